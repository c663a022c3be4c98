"""Drives ucoauth with UltraCart's official Python SDK (PyPI `ultracart-rest-sdk`).

Usage: ultracart_sdk_flow.py BASE_URL CLIENT_ID CODE REDIRECT_URI

Exchanges the code, refreshes, calls oauth_me with the new access token, revokes, and prints one
JSON object describing what the SDK returned. Any SDK exception (type or value validation of our
responses included) makes the script exit non-zero with the traceback.
"""

import json
import sys

import ultracart
from ultracart.apis import OauthApi
from ultracart.model.oauth_me_response import OauthMeResponse


def api(base_url, access_token=None, simple_key=None):
    cfg = ultracart.Configuration(host=base_url)
    if access_token:
        cfg.access_token = access_token
    if simple_key:
        # The official samples configure a simple key even for the OAuth calls; it must not hurt.
        cfg.api_key["ultraCartSimpleApiKey"] = simple_key
    client = ultracart.ApiClient(
        configuration=cfg,
        header_name="X-UltraCart-Api-Version",
        header_value="2017-03-01",
    )
    return OauthApi(client)


def main():
    base_url, client_id, code, redirect_uri = sys.argv[1:5]
    oauth = api(base_url, simple_key="109ee846ee69f50177018ab12f008a00")

    token = oauth.oauth_access_token(
        client_id, "authorization_code", code=code, redirect_uri=redirect_uri
    )
    refreshed = oauth.oauth_access_token(
        client_id, "refresh_token", refresh_token=token.refresh_token
    )

    me_api = api(base_url, access_token=refreshed.access_token)
    assert me_api.oauth_me() is None  # 4.1.208 wires no response schema for oauth_me
    raw = me_api.oauth_me(_preload_content=False)
    me = me_api.api_client.deserialize(raw, (OauthMeResponse,), True)

    revoked = oauth.oauth_revoke(client_id, refreshed.access_token)
    revoked_again = oauth.oauth_revoke(client_id, refreshed.access_token)

    print(
        json.dumps(
            {
                "token_type": token.token_type,
                "expires_in": token.expires_in,
                "scope": token.scope,
                "merchant_id": token.merchant_id,
                "refresh_rotated": refreshed.refresh_token != token.refresh_token,
                "access_rotated": refreshed.access_token != token.access_token,
                "me": {
                    "merchant_id": me.merchant_id,
                    "merchant_name": me.merchant_name,
                    "client_id": me.client_id,
                    "application_name": me.application_name,
                    "scopes": list(me.scopes),
                },
                "revoke": {"successful": revoked.successful, "message": revoked.message},
                "revoke_again": {"successful": revoked_again.successful},
            }
        )
    )


if __name__ == "__main__":
    main()
