"""Drives ucoauth's device authorization flow with UltraCart's official Python SDK.

Usage:
  ultracart_sdk_device.py authorize BASE_URL CLIENT_ID
      Calls oauth_device_authorize(client_id, "crm"), then polls oauth_access_token once (the
      merchant has not approved yet, so the SDK must raise ApiException 400 with
      authorization_pending). Prints one JSON object.
  ultracart_sdk_device.py poll BASE_URL CLIENT_ID DEVICE_CODE
      Polls oauth_access_token with the device grant after approval and prints the token fields.

Any unexpected SDK exception (type or value validation of our responses included) makes the
script exit non-zero with the traceback.
"""

import json
import sys

import ultracart
from ultracart.apis import OauthApi
from ultracart.exceptions import ApiException
from ultracart.model.oauth_device_authorization_response import (
    OauthDeviceAuthorizationResponse,
)

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def api(base_url):
    cfg = ultracart.Configuration(host=base_url)
    client = ultracart.ApiClient(
        configuration=cfg,
        header_name="X-UltraCart-Api-Version",
        header_value="2017-03-01",
    )
    return OauthApi(client)


def authorize(base_url, client_id):
    oauth = api(base_url)
    device = oauth.oauth_device_authorize(client_id, "crm")
    # 4.1.208 declares OauthDeviceAuthorizationResponse as the return type and validates the
    # field types strictly (expires_in and interval must be integers).
    assert isinstance(device, OauthDeviceAuthorizationResponse), type(device)
    try:
        oauth.oauth_access_token(client_id, DEVICE_GRANT, device_code=device.device_code)
        raise AssertionError("a poll before approval returned tokens")
    except ApiException as e:
        pending = {"status": e.status, "body": json.loads(e.body)}
    print(
        json.dumps(
            {
                "type": type(device).__name__,
                "device_code": device.device_code,
                "user_code": device.user_code,
                "verification_uri": device.verification_uri,
                "verification_uri_complete": device.verification_uri_complete,
                "expires_in": device.expires_in,
                "interval": device.interval,
                "pending": pending,
            }
        )
    )


def poll(base_url, client_id, device_code):
    oauth = api(base_url)
    token = oauth.oauth_access_token(client_id, DEVICE_GRANT, device_code=device_code)
    print(
        json.dumps(
            {
                "token_type": token.token_type,
                "expires_in": token.expires_in,
                "scope": token.scope,
                "merchant_id": token.merchant_id,
                "has_access_token": bool(token.access_token),
                "has_refresh_token": bool(token.refresh_token),
            }
        )
    )


def main():
    command = sys.argv[1]
    if command == "authorize":
        authorize(*sys.argv[2:4])
    elif command == "poll":
        poll(*sys.argv[2:5])
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main()
