//! Turning whatever came back into a value or the right kind of [`SdkError`].
//!
//! Nothing here trusts the response: any status, any `Content-Type`, any body (HTML, truncated
//! JSON, empty, gigabytes) ends as a value or an error, never a panic. The body is read up to
//! [`MAX_BODY_BYTES`]; the rest is dropped, so an oversized answer fails to parse instead of
//! filling memory.

use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use ucoauth_wire::{params::header::UC_REST_ERROR, ErrorResponse, OauthTokenResponse};

use crate::error::SdkError;

/// The most of a body that is kept. OAuth answers are a few hundred bytes.
pub(crate) const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A response read off the wire, not yet interpreted.
pub(crate) struct RawResponse {
    status: StatusCode,
    uc_rest_error: Option<String>,
    body: Vec<u8>,
}

impl RawResponse {
    /// Reads the status, the `UC-REST-ERROR` header and up to [`MAX_BODY_BYTES`] of body.
    pub(crate) async fn read(mut response: reqwest::Response) -> Result<Self, SdkError> {
        let status = response.status();
        let uc_rest_error = response
            .headers()
            .get(UC_REST_ERROR)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(SdkError::Transport)? {
            let room = MAX_BODY_BYTES - body.len();
            body.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
            if body.len() >= MAX_BODY_BYTES {
                break;
            }
        }
        Ok(Self {
            status,
            uc_rest_error,
            body,
        })
    }

    /// A 2xx body parsed as `T`; anything else as [`SdkError::Api`].
    pub(crate) fn into_result<T: DeserializeOwned>(self) -> Result<T, SdkError> {
        if !self.status.is_success() {
            return Err(self.into_api_error());
        }
        match serde_json::from_slice(&self.body) {
            Ok(value) => Ok(value),
            Err(source) => Err(SdkError::Decode {
                status: self.status,
                body: self.body_text(),
                source,
            }),
        }
    }

    /// Like [`Self::into_result`], and a 2xx token response with `error` set is a refusal too:
    /// the official SDKs would hand it out as a token with no `access_token`.
    pub(crate) fn into_token_result(self) -> Result<OauthTokenResponse, SdkError> {
        if !self.status.is_success() {
            return Err(self.into_api_error());
        }
        let body = self.body_text();
        let status = self.status;
        let response: OauthTokenResponse = self.into_result()?;
        if response.error.is_some() {
            return Err(SdkError::Api {
                status,
                uc_rest_error: None,
                body,
                error_response: None,
                oauth_error: Some(Box::new(response)),
            });
        }
        Ok(response)
    }

    /// The refusal, with the body parsed as whichever of the two error shapes it has. The shapes
    /// cannot both match: `error` is an object in `ErrorResponse` and a string in the OAuth one.
    fn into_api_error(self) -> SdkError {
        let error_response = serde_json::from_slice::<ErrorResponse>(&self.body)
            .ok()
            .filter(|parsed| *parsed != ErrorResponse::default())
            .map(Box::new);
        let oauth_error = serde_json::from_slice::<OauthTokenResponse>(&self.body)
            .ok()
            .filter(|parsed| parsed.error.is_some())
            .map(Box::new);
        SdkError::Api {
            status: self.status,
            uc_rest_error: self.uc_rest_error.clone(),
            body: self.body_text(),
            error_response,
            oauth_error,
        }
    }

    fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use ucoauth_wire::OauthRevokeSuccessResponse;

    use super::*;

    fn raw(status: u16, body: &str) -> RawResponse {
        RawResponse {
            status: StatusCode::from_u16(status).unwrap(),
            uc_rest_error: None,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn odd_bodies_never_panic() {
        for body in [
            "",
            "null",
            "[]",
            "\"text\"",
            "{",
            "<html>",
            "\u{0}\u{1}",
            &"[".repeat(10_000),
        ] {
            for status in [200, 400, 500] {
                let _ = raw(status, body).into_token_result();
                let _ = raw(status, body).into_result::<OauthRevokeSuccessResponse>();
            }
        }
    }

    #[test]
    fn a_200_carrying_an_oauth_error_is_a_refusal() {
        let err = raw(200, r#"{"error":"invalid_grant"}"#)
            .into_token_result()
            .unwrap_err();
        assert_eq!(err.oauth_error_code(), Some("invalid_grant"));
        assert_eq!(err.status(), Some(StatusCode::OK));
    }

    #[test]
    fn the_two_error_shapes_are_told_apart() {
        let err = raw(
            400,
            r#"{"error":{"developer_message":"x"},"success":false}"#,
        )
        .into_token_result()
        .unwrap_err();
        assert!(err.error_response().is_some());
        assert_eq!(err.oauth_error_code(), None);
        let err = raw(400, r#"{"error":"invalid_request"}"#)
            .into_token_result()
            .unwrap_err();
        assert!(err.error_response().is_none());
        assert_eq!(err.oauth_error_code(), Some("invalid_request"));
        let err = raw(400, "{}").into_token_result().unwrap_err();
        assert!(err.error_response().is_none());
        assert_eq!(err.oauth_error_code(), None);
    }
}
