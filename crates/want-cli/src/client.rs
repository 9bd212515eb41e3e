//! A small blocking HTTP client for the node API that turns API errors into CLI errors.

use std::time::Duration;

use serde_json::Value;

use crate::output::CliError;

/// How long one request may take (a `?wait=commit` waits for a block).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Client {
    base: String,
    http: reqwest::blocking::Client,
}

impl Client {
    pub fn new(base: &str) -> anyhow::Result<Client> {
        let http = reqwest::blocking::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| CliError::new("client_error", format!("cannot build HTTP client: {e}")))?;
        Ok(Client {
            base: base.trim_end_matches('/').to_string(),
            http,
        })
    }

    pub fn get(&self, path: &str) -> anyhow::Result<Value> {
        let resp = self.http.get(format!("{}{path}", self.base)).send();
        self.handle(resp)
    }

    pub fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send();
        self.handle(resp)
    }

    /// PUTs raw bytes (the blob store).
    /// PUTs raw bytes with extra headers (signed blob uploads).
    pub fn put_bytes_with(
        &self,
        path: &str,
        body: Vec<u8>,
        headers: &[(&str, String)],
    ) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .put(format!("{}{path}", self.base))
            .header("content-type", "application/octet-stream");
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        self.handle(req.body(body).send())
    }

    /// GETs raw bytes with extra headers (signed blob reads); API errors become CLI errors.
    pub fn get_bytes(&self, path: &str, headers: &[(&str, String)]) -> anyhow::Result<Vec<u8>> {
        let mut req = self.http.get(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let resp = req.send().map_err(|e| {
            CliError::new(
                "node_unreachable",
                format!("cannot reach the node at {}: {e}", self.base),
            )
        })?;
        if resp.status().is_success() {
            let bytes = resp.bytes().map_err(|e| {
                CliError::new(
                    "node_unreachable",
                    format!("reading the node's answer: {e}"),
                )
            })?;
            return Ok(bytes.to_vec());
        }
        self.handle(Ok(resp)).map(|_| Vec::new())
    }

    fn handle(&self, resp: reqwest::Result<reqwest::blocking::Response>) -> anyhow::Result<Value> {
        let resp = resp.map_err(|e| {
            CliError::new(
                "node_unreachable",
                format!("cannot reach the node at {}: {e}; is it running? (start one with `want dev`, or pass --node URL)", self.base),
            )
        })?;
        let status = resp.status();
        let text = resp.text().map_err(|e| {
            CliError::new(
                "node_unreachable",
                format!("reading the node's answer: {e}"),
            )
        })?;
        let v: Value = serde_json::from_str(&text).map_err(|_| {
            CliError::new(
                "bad_response",
                format!(
                    "the node answered {status} with non-JSON: {}",
                    text.chars().take(200).collect::<String>()
                ),
            )
        })?;
        if !status.is_success() {
            let code = v["error"]["code"]
                .as_str()
                .unwrap_or("node_error")
                .to_string();
            let message = v["error"]["message"]
                .as_str()
                .unwrap_or("the node refused the request")
                .to_string();
            let mut err = CliError::new(code, message);
            if let Some(p) = v["error"]["path"].as_str() {
                err = err.at(p);
            }
            return Err(err.into());
        }
        Ok(v)
    }
}
