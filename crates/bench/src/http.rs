//! One keep-alive HTTP/1.1 connection per worker, through hyper's low-level client: the load
//! generator should cost the machine as little as possible, since it shares the cores.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{client::conn::http1, header, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A response, fully read.
pub struct Reply {
    pub status: StatusCode,
    pub location: Option<String>,
    pub set_cookie: Vec<String>,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        Ok(serde_json::from_slice(&self.body)?)
    }
}

pub struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
    host: String,
    pub cookie: Option<String>,
}

impl Conn {
    pub async fn open(addr: &str) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Self {
            sender,
            host: addr.to_owned(),
            cookie: None,
        })
    }

    pub async fn get(&mut self, path: &str, bearer: Option<&str>) -> anyhow::Result<Reply> {
        let mut req = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(header::HOST, &self.host)
            .header(header::ACCEPT, "application/json");
        if let Some(token) = bearer {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        self.send(req, Bytes::new()).await
    }

    pub async fn post_form(&mut self, path: &str, form: &[(&str, &str)]) -> anyhow::Result<Reply> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::HOST, &self.host)
            .header(header::ACCEPT, "application/json")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        self.send(req, Bytes::from(body)).await
    }

    async fn send(
        &mut self,
        mut req: hyper::http::request::Builder,
        body: Bytes,
    ) -> anyhow::Result<Reply> {
        if let Some(cookie) = &self.cookie {
            req = req.header(header::COOKIE, cookie);
        }
        self.sender.ready().await?;
        let response = self.sender.send_request(req.body(Full::new(body))?).await?;
        let status = response.status();
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let set_cookie = response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Reply {
            status,
            location,
            set_cookie,
            body,
        })
    }
}
