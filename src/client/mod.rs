//! `SessionsClient`: call a running sessions service from Rust, over its GraphQL API.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sessions::client::ClientError> {
//! use sessions::client::SessionsClient;
//!
//! let client = SessionsClient::new("http://127.0.0.1:8080")?;
//! let session = client.open_session("1", Some("User 1"), None, None, None, None).await?;
//! let same = client.get_session_by_id(&session.id).await?;
//! assert_eq!(same.map(|s| s.user_id), Some("1".to_owned()));
//! client.close_session(&session.id).await?;
//! # Ok(()) }
//! ```

mod error;
mod events;
mod operations;

use std::time::Duration;

use graphql_client::{GraphQLQuery, Response};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

pub use error::ClientError;
pub use events::SessionEventStream;
use operations as ops;

use crate::controller::Paging;
use crate::http::correlation;
use crate::model::{CloseReason, InvalidSessionId, Page, Session, SessionFilter, SessionId};

/// A client of one sessions service. Cheap to clone; clones share connections.
///
/// ```no_run
/// # async fn demo() -> Result<(), sessions::ClientError> {
/// use sessions::{ClientError, SessionId, SessionsClient};
///
/// let client = SessionsClient::new("http://127.0.0.1:8080")?;
/// match client.close_session(&SessionId::random()).await {
///     Err(ClientError::NotFound { correlation_id }) => println!("no such session ({correlation_id})"),
///     other => println!("{other:?}"),
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct SessionsClient {
    http: reqwest::Client,
    endpoint: reqwest::Url,
    correlation_id: Option<String>,
    /// The `Authorization` value, also sent in `connection_init` by `session_events`.
    authorization: Option<HeaderValue>,
}

/// Builds a [`SessionsClient`] with a timeout and extra headers.
#[derive(Debug)]
pub struct SessionsClientBuilder {
    base_url: String,
    timeout: Duration,
    headers: HeaderMap,
}

impl SessionsClientBuilder {
    /// Give up on a call after `timeout` (default 10 s); it then fails as `Unavailable`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Send this header with every call (e.g. `Authorization`).
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Authenticate every call with this secret, an API key (`sk_...`) or a session token
    /// (`st_...`): sent as `Authorization: Bearer <secret>`, and marked sensitive so it is
    /// never printed.
    ///
    /// # Errors
    /// `ClientError::Config` when the secret cannot be sent in a header.
    pub fn bearer(mut self, secret: &str) -> Result<Self, ClientError> {
        let mut value = HeaderValue::from_str(&format!("Bearer {secret}")).map_err(|_| {
            ClientError::Config {
                message: "the bearer secret holds characters a header cannot carry".to_owned(),
            }
        })?;
        value.set_sensitive(true);
        self.headers.insert(reqwest::header::AUTHORIZATION, value);
        Ok(self)
    }

    /// Build the client.
    ///
    /// # Errors
    /// `ClientError::Config` when the base URL is not an http(s) URL or TLS cannot be set up.
    pub fn build(self) -> Result<SessionsClient, ClientError> {
        let config = |message: String| ClientError::Config { message };
        let base = reqwest::Url::parse(&self.base_url)
            .map_err(|e| config(format!("invalid base URL {:?}: {e}", self.base_url)))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(config(format!(
                "base URL {:?} must be http or https",
                self.base_url
            )));
        }
        // Append to the base path (`/sessions` → `/sessions/graphql`); `Url::join` would
        // replace its last segment instead.
        let mut endpoint = base;
        endpoint.set_query(None);
        endpoint.set_fragment(None);
        endpoint
            .path_segments_mut()
            .map_err(|()| config(format!("base URL {:?} cannot have a path", self.base_url)))?
            .pop_if_empty()
            .push("graphql");
        let authorization = self.headers.get(reqwest::header::AUTHORIZATION).cloned();
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .default_headers(self.headers)
            .build()
            .map_err(|e| config(e.to_string()))?;
        Ok(SessionsClient {
            http,
            endpoint,
            correlation_id: None,
            authorization,
        })
    }
}

impl SessionsClient {
    /// A client of the service at `base_url`, e.g. `http://localhost:8080`, with defaults.
    ///
    /// # Errors
    /// `ClientError::Config` for an invalid URL.
    pub fn new(base_url: &str) -> Result<Self, ClientError> {
        Self::builder(base_url).build()
    }

    /// A builder for a client of the service at `base_url`.
    pub fn builder(base_url: &str) -> SessionsClientBuilder {
        SessionsClientBuilder {
            base_url: base_url.to_owned(),
            timeout: Duration::from_secs(10),
            headers: HeaderMap::new(),
        }
    }

    /// A copy of this client that sends `id` as `X-Correlation-Id` with its calls. Without
    /// one, each call gets a fresh random id; either way, errors report it.
    pub fn with_correlation_id(&self, id: impl Into<String>) -> Self {
        Self {
            correlation_id: Some(id.into()),
            ..self.clone()
        }
    }

    /// The GraphQL endpoint this client calls.
    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }

    /// A page of sessions matching `filter`, most recent activity first.
    ///
    /// # Errors
    /// `BadInput` for negative paging values; `Unavailable`; `Server`.
    pub async fn get_sessions(
        &self,
        filter: SessionFilter,
        paging: Paging,
    ) -> Result<Page<Session>, ClientError> {
        let variables = ops::get_sessions::Variables {
            filter: Some(ops::get_sessions::SessionFilter {
                id: filter.id.map(|id| id.to_string()),
                user_id: filter.user_id,
                active: filter.active,
                from_time: filter.from_time,
                to_time: filter.to_time,
            }),
            paging: Some(ops::get_sessions::Paging {
                skip: paging.skip.unwrap_or(0),
                take: paging
                    .take
                    .unwrap_or(crate::controller::DEFAULT_TAKE as i64),
                total: paging.total,
            }),
        };
        self.call::<ops::GetSessions, _>(variables, |data| {
            Ok(Page {
                total: data.sessions.total.map(|n| u64::try_from(n).unwrap_or(0)),
                data: data
                    .sessions
                    .data
                    .into_iter()
                    .map(Session::try_from)
                    .collect::<Result<_, _>>()?,
            })
        })
        .await
    }

    /// The session with this id, or `None` when there is none.
    ///
    /// # Errors
    /// `Unavailable`; `Server`.
    pub async fn get_session_by_id(&self, id: &SessionId) -> Result<Option<Session>, ClientError> {
        let variables = ops::get_session_by_id::Variables { id: id.to_string() };
        self.call::<ops::GetSessionById, _>(variables, |data| {
            data.session.map(Session::try_from).transpose()
        })
        .await
    }

    /// Open a session, as the original client's `open_session(user_id, user_name, address,
    /// client, user, data)` does.
    ///
    /// # Errors
    /// `BadInput` naming the field that breaks a limit; `Unavailable`; `Server`.
    pub async fn open_session(
        &self,
        user_id: &str,
        user_name: Option<&str>,
        address: Option<&str>,
        client: Option<&str>,
        user: Option<Value>,
        data: Option<Value>,
    ) -> Result<Session, ClientError> {
        let input = ops::open_session::OpenSessionInput {
            user_id: user_id.to_owned(),
            user_name: user_name.map(str::to_owned),
            address: address.map(str::to_owned),
            client: client.map(str::to_owned),
            user,
            data,
        };
        let variables = ops::open_session::Variables { input };
        self.call::<ops::OpenSession, _>(variables, |data| data.open_session.try_into())
            .await
    }

    /// Replace an open session's data.
    ///
    /// # Errors
    /// `NotFound`; `SessionClosed`; `BadInput`; `Unavailable`; `Server`.
    pub async fn store_session_data(
        &self,
        id: &SessionId,
        data: Option<Value>,
    ) -> Result<Session, ClientError> {
        let variables = ops::store_session_data::Variables {
            session_id: id.to_string(),
            data,
        };
        self.call::<ops::StoreSessionData, _>(variables, |data| data.store_session_data.try_into())
            .await
    }

    /// Replace an open session's cached user.
    ///
    /// # Errors
    /// `NotFound`; `SessionClosed`; `BadInput`; `Unavailable`; `Server`.
    pub async fn update_session_user(
        &self,
        id: &SessionId,
        user: Option<Value>,
    ) -> Result<Session, ClientError> {
        let variables = ops::update_session_user::Variables {
            session_id: id.to_string(),
            user,
        };
        self.call::<ops::UpdateSessionUser, _>(variables, |data| {
            data.update_session_user.try_into()
        })
        .await
    }

    /// Close a session as signed out (`LOGOUT`); closing a closed one returns it unchanged.
    ///
    /// # Errors
    /// `NotFound`; `Unavailable`; `Server`.
    pub async fn close_session(&self, id: &SessionId) -> Result<Session, ClientError> {
        self.close_session_for(id, CloseReason::Logout).await
    }

    /// Close a session for `reason`: `Logout` or `Revoked` (the others are the service's own).
    ///
    /// # Errors
    /// `BadInput` for another reason; `NotFound`; `Unavailable`; `Server`.
    pub async fn close_session_for(
        &self,
        id: &SessionId,
        reason: CloseReason,
    ) -> Result<Session, ClientError> {
        use ops::close_session::CloseReason as Wire;
        let reason = match reason {
            CloseReason::Logout => Wire::LOGOUT,
            CloseReason::IdleTimeout => Wire::IDLE_TIMEOUT,
            CloseReason::MaxLifetime => Wire::MAX_LIFETIME,
            CloseReason::Revoked => Wire::REVOKED,
            CloseReason::Evicted => Wire::EVICTED,
        };
        let variables = ops::close_session::Variables {
            session_id: id.to_string(),
            reason: Some(reason),
        };
        self.call::<ops::CloseSession, _>(variables, |data| data.close_session.try_into())
            .await
    }

    /// Mark an open session active now, changing nothing else.
    ///
    /// # Errors
    /// `NotFound`; `SessionClosed` (an expired session is closed by the touch);
    /// `Unavailable`; `Server`.
    pub async fn touch_session(&self, id: &SessionId) -> Result<Session, ClientError> {
        let variables = ops::touch_session::Variables {
            session_id: id.to_string(),
        };
        self.call::<ops::TouchSession, _>(variables, |data| data.touch_session.try_into())
            .await
    }

    /// Close every open session of `user_id` except `except` ("log out everywhere else"), as
    /// `Revoked`; returns how many were closed.
    ///
    /// # Errors
    /// `BadInput`; `Unavailable`; `Server`.
    pub async fn close_user_sessions(
        &self,
        user_id: &str,
        except: Option<&SessionId>,
    ) -> Result<u64, ClientError> {
        let variables = ops::close_user_sessions::Variables {
            user_id: user_id.to_owned(),
            except_session_id: except.map(ToString::to_string),
        };
        self.call::<ops::CloseUserSessions, _>(variables, |data| {
            Ok(u64::try_from(data.close_user_sessions).unwrap_or(0))
        })
        .await
    }

    /// Close every open session idle for longer than the service's expire timeout; returns
    /// how many were closed.
    ///
    /// # Errors
    /// `Unavailable`; `Server`.
    pub async fn close_expired_sessions(&self) -> Result<u64, ClientError> {
        let variables = ops::close_expired_sessions::Variables;
        self.call::<ops::CloseExpiredSessions, _>(variables, |data| {
            Ok(u64::try_from(data.close_expired_sessions).unwrap_or(0))
        })
        .await
    }

    /// Remove a session; returns it, or `None` when there was none.
    ///
    /// # Errors
    /// `Unavailable`; `Server`.
    pub async fn delete_session_by_id(
        &self,
        id: &SessionId,
    ) -> Result<Option<Session>, ClientError> {
        let variables = ops::delete_session::Variables {
            session_id: id.to_string(),
        };
        self.call::<ops::DeleteSession, _>(variables, |data| {
            data.delete_session.map(Session::try_from).transpose()
        })
        .await
    }

    /// Send one operation, and turn its answer into a result with `convert`, or into a
    /// [`ClientError`].
    async fn call<Q: GraphQLQuery, T>(
        &self,
        variables: Q::Variables,
        convert: impl FnOnce(Q::ResponseData) -> Result<T, InvalidSessionId>,
    ) -> Result<T, ClientError> {
        let correlation_id = self
            .correlation_id
            .clone()
            .unwrap_or_else(|| correlation::CorrelationId::generate().as_str().to_owned());
        let body = Q::build_query(variables);
        let sent = self
            .http
            .post(self.endpoint.clone())
            .header(correlation::HEADER, &correlation_id)
            .json(&body)
            .send()
            .await;
        let response = sent.map_err(|e| ClientError::unavailable(&e, &correlation_id))?;
        let status = response.status();
        if status.is_server_error() {
            let message = format!("the service answered {status}");
            return Err(ClientError::Unavailable {
                message,
                correlation_id,
            });
        }
        let answer: Response<Q::ResponseData> = match response.json().await {
            Ok(answer) => answer,
            // A 4xx without a GraphQL body comes from something else at that address (a
            // proxy, another app): not worth retrying, so not `Unavailable`.
            Err(error) if error.is_decode() && status.is_client_error() => {
                return Err(ClientError::Server {
                    code: format!("HTTP_{}", status.as_u16()),
                    message: format!("the service answered {status} without a GraphQL body"),
                    correlation_id,
                });
            }
            Err(error) => return Err(ClientError::unavailable(&error, &correlation_id)),
        };
        if let Some(error) = answer.errors.as_ref().and_then(|errors| errors.first()) {
            return Err(ClientError::from_graphql(error, correlation_id));
        }
        let invalid = |message: String| ClientError::Server {
            code: "INVALID_RESPONSE".to_owned(),
            message,
            correlation_id: correlation_id.clone(),
        };
        let data = answer
            .data
            .ok_or_else(|| invalid(format!("the service answered {status} without data")))?;
        convert(data).map_err(|e| invalid(format!("the service sent a session id that is {e}")))
    }
}

/// The same conversion for the `SessionFields` fragment of every operation.
macro_rules! session_from_fields {
    ($($module:ident),*) => {$(
        impl TryFrom<ops::$module::SessionFields> for Session {
            type Error = InvalidSessionId;

            fn try_from(fields: ops::$module::SessionFields) -> Result<Self, Self::Error> {
                Ok(Session {
                    id: fields.id.parse()?,
                    user_id: fields.user_id,
                    user_name: fields.user_name,
                    active: fields.active,
                    open_time: fields.open_time,
                    request_time: fields.request_time,
                    close_time: fields.close_time,
                    address: fields.address,
                    client: fields.client,
                    user: fields.user,
                    data: fields.data,
                    // A reason this client does not know (from a newer service) reads as
                    // not recorded.
                    close_reason: fields.close_reason.and_then(|reason| {
                        use ops::$module::CloseReason as Wire;
                        match reason {
                            Wire::LOGOUT => Some(CloseReason::Logout),
                            Wire::IDLE_TIMEOUT => Some(CloseReason::IdleTimeout),
                            Wire::MAX_LIFETIME => Some(CloseReason::MaxLifetime),
                            Wire::REVOKED => Some(CloseReason::Revoked),
                            Wire::EVICTED => Some(CloseReason::Evicted),
                            Wire::Other(_) => None,
                        }
                    }),
                    closed_by: fields.closed_by,
                    // The service never sends the hash of a token.
                    token_hash: None,
                })
            }
        }
    )*};
}

session_from_fields!(
    get_sessions,
    get_session_by_id,
    open_session,
    store_session_data,
    update_session_user,
    close_session,
    touch_session,
    delete_session
);
