//! Helpers shared by the integration tests: running the real `want` binary and `want dev` nodes.
#![allow(dead_code)]

use std::fs::OpenOptions;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Path of the `want` binary under test.
pub fn want_bin() -> &'static str {
    env!("CARGO_BIN_EXE_want")
}

/// The result of one `want` invocation.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The one JSON object printed on stdout (with `--json`).
    pub fn json(&self) -> Value {
        let lines: Vec<&str> = self
            .stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "--json must print exactly one line; stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        serde_json::from_str(lines[0]).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// Asserts success and returns the JSON result.
    pub fn ok_json(&self) -> Value {
        assert_eq!(
            self.code,
            Some(0),
            "expected success; stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self.json()
    }

    /// Asserts exit code 1 with `{"error":{"code": code, "message"}}` and returns the message.
    pub fn err_code(&self, code: &str) -> String {
        assert_eq!(
            self.code,
            Some(1),
            "expected exit 1; stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        let v = self.json();
        assert_eq!(
            v["error"]["code"], code,
            "unexpected error code in {v}; stderr:\n{}",
            self.stderr
        );
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "error without a message: {v}");
        message.to_string()
    }
}

/// Runs `want <args>` to completion.
pub fn want(args: &[&str]) -> Run {
    let out: Output = Command::new(want_bin())
        .args(args)
        .env_remove("WANT_NODE")
        .stdin(Stdio::null())
        .output()
        .expect("run the want binary");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `want --json <args>`.
pub fn want_json(args: &[&str]) -> Run {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    want(&all)
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

/// A URL where nothing listens (a port that was just free).
pub fn closed_url() -> String {
    format!("http://127.0.0.1:{}", free_port())
}

/// Writes a password file and returns its path.
pub fn password_file(dir: &Path, name: &str, password: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("{password}\n")).expect("write password file");
    p
}

/// A running `want dev` child process, killed (SIGKILL) when dropped.
pub struct DevNode {
    pub child: Child,
    pub url: String,
    pub data_dir: PathBuf,
    /// What the node printed at start (`--json`).
    pub info: Value,
}

/// How long a node may take to answer `/healthz` after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(30);

impl DevNode {
    /// Starts `want --json dev --data-dir <data_dir> --http 127.0.0.1:<free port> <extra>` and
    /// waits until `/healthz` answers. Retries with another port if the chosen one was taken.
    /// The node's log goes to `<data_dir>.log`.
    pub fn start(data_dir: &Path, extra: &[&str]) -> DevNode {
        Self::start_on("127.0.0.1", data_dir, extra)
    }

    /// [`DevNode::start`] listening on `ip` (reached through 127.0.0.1).
    pub fn start_on(ip: &str, data_dir: &Path, extra: &[&str]) -> DevNode {
        let mut last_err = String::new();
        for _ in 0..5 {
            match Self::try_start(ip, data_dir, extra) {
                Ok(n) => return n,
                Err((retry, e)) => {
                    if !retry {
                        panic!("want dev did not start: {e}");
                    }
                    last_err = e;
                }
            }
        }
        panic!("want dev did not start after 5 ports: {last_err}");
    }

    fn try_start(ip: &str, data_dir: &Path, extra: &[&str]) -> Result<DevNode, (bool, String)> {
        let port = free_port();
        let listen = format!("{ip}:{port}");
        let addr = format!("127.0.0.1:{port}");
        let log_path = PathBuf::from(format!("{}.log", data_dir.display()));
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("open node log");
        let child = Command::new(want_bin())
            .args(["--json", "dev", "--data-dir"])
            .arg(data_dir)
            .args(["--http", &listen])
            .args(extra)
            .env_remove("WANT_NODE")
            .env("WANT_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn want dev");
        let mut node = DevNode {
            child,
            url: format!("http://{addr}"),
            data_dir: data_dir.to_path_buf(),
            info: Value::Null,
        };
        let http = http_client();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = node.child.try_wait().expect("try_wait") {
                let mut out = String::new();
                if let Some(mut s) = node.child.stdout.take() {
                    use std::io::Read;
                    let _ = s.read_to_string(&mut out);
                }
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                let retry = out.contains("address_in_use");
                return Err((
                    retry,
                    format!("want dev exited with {status}: {out}\nlog:\n{log}"),
                ));
            }
            if let Ok(r) = http.get(format!("{}/healthz", node.url)).send() {
                if r.status().is_success() {
                    break;
                }
            }
            if Instant::now() > deadline {
                return Err((false, "no answer on /healthz within 30 s".into()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // The start banner is printed before the HTTP server answers.
        if let Some(stdout) = node.child.stdout.take() {
            use std::io::BufRead;
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            node.info = serde_json::from_str(line.trim()).unwrap_or(Value::Null);
        }
        Ok(node)
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Graceful stop (SIGTERM), falling back to SIGKILL after 15 s; returns whether the node
    /// exited by itself with status 0.
    pub fn stop(&mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        false
    }

    pub fn get(&self, path: &str) -> Value {
        get_json(&http_client(), &format!("{}{path}", self.url))
    }
}

impl Drop for DevNode {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A blocking HTTP client with a short timeout.
pub fn http_client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("build HTTP client")
}

/// GET a URL that must answer 2xx with JSON.
pub fn get_json(http: &reqwest::blocking::Client, url: &str) -> Value {
    let r = http
        .get(url)
        .send()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = r.status();
    let text = r.text().expect("read body");
    assert!(status.is_success(), "GET {url} answered {status}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {url}: not JSON ({e}): {text}"))
}

/// Sends SIGTERM to a process.
pub fn sigterm(pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
}

/// Sends SIGKILL to a process.
pub fn sigkill(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
}

/// Whether a process exists and has not exited (a zombie counts as gone).
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// Waits until `cond` holds, up to `timeout`; returns whether it did.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for a child to exit, up to `timeout`; returns its exit code (None if it did not exit or
/// was killed by a signal).
pub fn wait_exit(child: &mut Child, timeout: Duration) -> Option<i32> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running `want --json cluster up` supervisor; stopped with SIGTERM (then SIGKILL) on drop.
pub struct ClusterUp {
    pub child: Child,
    pub dir: PathBuf,
    /// The supervisor's stderr (its restart log).
    pub stderr_path: PathBuf,
    /// The one JSON object it printed once every node was up.
    pub info: Value,
}

/// How long `want cluster up` may take to print its nodes.
const CLUSTER_UP_TIMEOUT: Duration = Duration::from_secs(120);

impl ClusterUp {
    /// Starts `want --json cluster up --data-dir <dir> <extra>` and waits for its JSON line.
    pub fn start(dir: &Path, extra: &[&str]) -> ClusterUp {
        use std::io::BufRead;
        let stderr_path = PathBuf::from(format!("{}.supervisor.log", dir.display()));
        let stderr = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stderr_path)
            .expect("open supervisor log");
        let mut child = Command::new(want_bin())
            .args(["--json", "cluster", "up", "--data-dir"])
            .arg(dir)
            .args(extra)
            .env_remove("WANT_NODE")
            .env("WANT_LOG", "info,openraft=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("spawn want cluster up");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let mut up = ClusterUp {
            child,
            dir: dir.to_path_buf(),
            stderr_path,
            info: Value::Null,
        };
        let line = match rx.recv_timeout(CLUSTER_UP_TIMEOUT) {
            Ok(line) => line,
            Err(_) => panic!(
                "want cluster up printed nothing within {} s\n{}",
                CLUSTER_UP_TIMEOUT.as_secs(),
                up.logs()
            ),
        };
        let v: Value = serde_json::from_str(line.trim())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}\n{}", up.logs()));
        assert!(
            v.get("error").is_none(),
            "want cluster up failed: {v}\n{}",
            up.logs()
        );
        up.info = v;
        up
    }

    /// (id, http URL, pid) of each node as printed.
    pub fn nodes(&self) -> Vec<(u64, String, u32)> {
        self.info["nodes"]
            .as_array()
            .expect("nodes array")
            .iter()
            .map(|n| {
                (
                    n["id"].as_u64().expect("id"),
                    n["http"].as_str().expect("http").to_string(),
                    n["pid"].as_u64().expect("pid") as u32,
                )
            })
            .collect()
    }

    /// The supervisor's stderr and the end of every node log, for failure messages.
    pub fn logs(&self) -> String {
        let mut s = format!(
            "--- supervisor stderr:\n{}",
            std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
        );
        for k in 1..=9 {
            let p = self.dir.join(format!("node{k}")).join("node.log");
            if let Ok(text) = std::fs::read_to_string(&p) {
                let tail: Vec<&str> = text.lines().rev().take(30).collect();
                s.push_str(&format!("\n--- {} (last lines):\n", p.display()));
                for l in tail.iter().rev() {
                    s.push_str(l);
                    s.push('\n');
                }
            }
        }
        s
    }

    /// SIGTERM; returns the supervisor's exit code if it exited within 30 s.
    pub fn stop(&mut self) -> Option<i32> {
        sigterm(self.child.id());
        wait_exit(&mut self.child, Duration::from_secs(30))
    }
}

impl Drop for ClusterUp {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            sigterm(self.child.id());
            if wait_exit(&mut self.child, Duration::from_secs(15)).is_none() {
                // The nodes die with it (PR_SET_PDEATHSIG).
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

/// A path as the `&str` argument of a command (temporary paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

/// `want --json tx transfer --to <to> --amount <amount> --keystore … --password-file … --wait
/// --node <node>`.
pub fn transfer(keystore: &Path, pw: &Path, to: &str, amount: &str, node: &str) -> Run {
    want_json(&[
        "tx",
        "transfer",
        "--to",
        to,
        "--amount",
        amount,
        "--keystore",
        s(keystore),
        "--password-file",
        s(pw),
        "--wait",
        "--node",
        node,
    ])
}

/// Writes a raw secp256k1 key file; returns its path and the key's address.
pub fn key_file(dir: &Path, name: &str, key: &want_crypto::PrivateKey) -> (String, String) {
    let path = dir.join(format!("{name}.hex"));
    std::fs::write(&path, key.to_hex()).unwrap();
    (path.display().to_string(), key.address().to_string())
}

/// Runs `want --json <args> --key-file <key> --node <url>` and asserts a committed success.
pub fn signed(args: &[&str], key: &str, url: &str) -> Value {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--key-file", key, "--node", url]);
    let v = want_json(&all).ok_json();
    assert_eq!(v["receipt"]["status"], "success", "{args:?}: {v}");
    v
}
