//! [`TokenSource`]: a valid access token on demand, refreshed once however many ask at once.
//!
//! # How a refresh goes
//!
//! 1. A caller of [`TokenSource::access_token`] takes the lock. If the token has more than the
//!    margin (default 60 s) left, it gets that token; nothing goes on the wire.
//! 2. Otherwise it refreshes **while holding the lock**. Everyone else asking meanwhile waits on
//!    the lock and then finds the fresh token: one refresh request, however many callers. This
//!    matters because ucoauth rotates refresh tokens: a second refresh with the same (now old)
//!    token would be seen as reuse and revoke the whole grant.
//! 3. The refreshed set goes to the persistence callback *before* anyone gets the new access
//!    token. If saving fails the caller gets [`SdkError::Persist`]; the new set stays in memory
//!    (the old refresh token no longer works, so dropping it would lose the grant), and saving is
//!    retried on the next call until it succeeds.
//! 4. The refresh and the save run in a spawned task that owns the lock, so a caller that gives
//!    up (a timeout around `access_token()`) cannot cancel it half way, between the server
//!    rotating the token and the new one being stored.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    time::{Duration, SystemTime},
};

use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::{
    api::OauthApi,
    error::{BoxError, SdkError},
    token_set::TokenSet,
    types::{AccessToken, ClientId},
};

/// Default: refresh when less than this is left on the access token.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(60);

type SaveFuture = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;
type SaveFn = Arc<dyn Fn(TokenSet) -> SaveFuture + Send + Sync>;

/// Hands out access tokens, refreshing and saving them as needed. Cheap to clone; clones share
/// the tokens and the lock.
///
/// ```no_run
/// # async fn run(api: ucoauth_sdk::OauthApi, saved: ucoauth_sdk::TokenSet) -> Result<(), ucoauth_sdk::SdkError> {
/// use ucoauth_sdk::{ClientId, TokenSource};
///
/// let source = TokenSource::new(api.clone(), ClientId::new("5e31ce86e17f02015a35257c47151544"), saved)
///     .on_refresh(|tokens| std::fs::write("tokens.json", serde_json::to_vec(tokens)?));
/// let token = source.access_token().await?;
/// let me = api.with_access_token(token)?.oauth_me().await?;
/// # let _ = me; Ok(()) }
/// ```
#[derive(Clone)]
pub struct TokenSource {
    shared: Arc<Shared>,
    state: Arc<Mutex<State>>,
}

/// Settings: fixed once the source is in use.
#[derive(Clone)]
struct Shared {
    api: OauthApi,
    client_id: ClientId,
    margin: Duration,
    save: Option<SaveFn>,
}

/// What the lock guards.
struct State {
    tokens: TokenSet,
    /// True from a refresh until the persistence callback has accepted the new set.
    unsaved: bool,
}

impl TokenSource {
    /// Serves `tokens` (for example read back from disk) for `client_id`, refreshing through `api`.
    pub fn new(api: OauthApi, client_id: ClientId, tokens: TokenSet) -> Self {
        Self {
            shared: Arc::new(Shared {
                api,
                client_id,
                margin: DEFAULT_REFRESH_MARGIN,
                save: None,
            }),
            state: Arc::new(Mutex::new(State {
                tokens,
                unsaved: false,
            })),
        }
    }

    /// Refresh when less than `margin` is left (default 60 s).
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.shared_mut().margin = margin;
        self
    }

    /// Saves every refreshed set with a synchronous callback before its token is handed out.
    /// Keep it quick (it runs on the async runtime); for real I/O prefer [`Self::on_refresh_async`].
    pub fn on_refresh<F, E>(mut self, save: F) -> Self
    where
        F: Fn(&TokenSet) -> Result<(), E> + Send + Sync + 'static,
        E: Into<BoxError>,
    {
        self.shared_mut().save = Some(Arc::new(move |tokens: TokenSet| -> SaveFuture {
            let result = save(&tokens).map_err(Into::into);
            Box::pin(std::future::ready(result))
        }));
        self
    }

    /// Saves every refreshed set with an async callback before its token is handed out.
    pub fn on_refresh_async<F, Fut, E>(mut self, save: F) -> Self
    where
        F: Fn(TokenSet) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.shared_mut().save = Some(Arc::new(move |tokens: TokenSet| -> SaveFuture {
            let saving = save(tokens);
            Box::pin(async move { saving.await.map_err(Into::into) })
        }));
        self
    }

    /// A token with more than the margin left, refreshing first if needed (see the module docs
    /// for what happens with concurrent callers and when saving fails).
    pub async fn access_token(&self) -> Result<AccessToken, SdkError> {
        let guard = Arc::clone(&self.state).lock_owned().await;
        let stale = guard.unsaved
            || guard
                .tokens
                .needs_refresh(self.shared.margin, SystemTime::now());
        if !stale {
            return Ok(guard.tokens.access_token.clone());
        }
        self.run_refresh(guard, None).await
    }

    /// For when the server refused `rejected` (a 401) before its expiry: refreshes unless
    /// someone already replaced that token, so many callers hitting the same 401 still cause
    /// one refresh.
    pub async fn refresh_rejected(&self, rejected: &AccessToken) -> Result<AccessToken, SdkError> {
        let guard = Arc::clone(&self.state).lock_owned().await;
        self.run_refresh(guard, Some(rejected.clone())).await
    }

    /// A copy of the current tokens (for example to store them at exit).
    pub async fn token_set(&self) -> TokenSet {
        self.state.lock().await.tokens.clone()
    }

    /// The API this source refreshes through.
    pub fn api(&self) -> &OauthApi {
        &self.shared.api
    }

    /// Runs [`Shared::refresh_locked`] in its own task, so the caller going away cannot
    /// interrupt it between the server rotating the token and the new one being saved.
    async fn run_refresh(
        &self,
        guard: OwnedMutexGuard<State>,
        rejected: Option<AccessToken>,
    ) -> Result<AccessToken, SdkError> {
        let shared = Arc::clone(&self.shared);
        let task = tokio::spawn(async move { shared.refresh_locked(guard, rejected).await });
        match task.await {
            Ok(result) => result,
            Err(join_error) => Err(SdkError::Persist(
                format!("the refresh task failed: {join_error}").into(),
            )),
        }
    }

    /// The settings, copied first if this handle was already cloned (clones keep theirs).
    fn shared_mut(&mut self) -> &mut Shared {
        Arc::make_mut(&mut self.shared)
    }
}

impl Shared {
    /// Under the lock: finish an unsaved refresh, or refresh if still needed, then save.
    async fn refresh_locked(
        &self,
        mut guard: OwnedMutexGuard<State>,
        rejected: Option<AccessToken>,
    ) -> Result<AccessToken, SdkError> {
        let state = &mut *guard;
        if !state.unsaved {
            // Re-check under the lock: whoever held it before us may have refreshed already.
            let still_needed = match &rejected {
                Some(rejected) => state.tokens.access_token == *rejected,
                None => state.tokens.needs_refresh(self.margin, SystemTime::now()),
            };
            if still_needed {
                let refresh_token = state
                    .tokens
                    .refresh_token
                    .clone()
                    .ok_or(SdkError::NoRefreshToken)?;
                let mut fresh = self.api.refresh(&self.client_id, &refresh_token).await?;
                fresh.inherit_from(&state.tokens);
                state.tokens = fresh;
                state.unsaved = true;
            }
        }
        if state.unsaved {
            if let Some(save) = &self.save {
                save(state.tokens.clone())
                    .await
                    .map_err(SdkError::Persist)?;
            }
            state.unsaved = false;
        }
        Ok(state.tokens.access_token.clone())
    }
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("client_id", &self.shared.client_id)
            .field("margin", &self.shared.margin)
            .field("persists", &self.shared.save.is_some())
            .finish_non_exhaustive()
    }
}
