//! The scripted SMSC (`tests/smsc/smsc.js`, on the npm package `smpp`) as a child
//! process: events read from its stdout, commands written to its stdin.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Longest wait for an event from the SMSC.
const EVENT_TIMEOUT: Duration = Duration::from_secs(15);

pub(crate) struct Smsc {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    /// Events read while looking for another, oldest first.
    pending: Vec<Value>,
    pub(crate) port: u16,
}

/// The SMSC's folder. The crates sit side by side, so this path holds from vigie-sms's
/// tests and from the `vigie` binary's, which include this file.
fn smsc_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("vigie-sms").join("tests").join("smsc")
}

/// Installs the SMSC's npm packages (from its package-lock.json) the first time a test
/// needs them, so that `cargo test --workspace` runs on a fresh checkout wherever Node.js
/// and npm are; `.ci/run` installs them beforehand.
fn install(dir: &std::path::Path) {
    static INSTALLED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    INSTALLED.get_or_init(|| {
        if dir.join("node_modules").join("smpp").join("package.json").exists() {
            return;
        }
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(dir)
            .stdout(Stdio::null())
            .status();
        assert!(
            matches!(status, Ok(s) if s.success()),
            "the test SMSC needs Node.js and its npm packages: `npm ci --prefix crates/vigie-sms/tests/smsc` \
             failed or npm is missing ({status:?})"
        );
    });
}

impl Smsc {
    /// Starts the SMSC on `port` (0: any free port) and waits until it listens.
    pub(crate) async fn start(port: u16) -> Smsc {
        let dir = smsc_dir();
        install(&dir);
        let mut child = Command::new("node")
            .arg(dir.join("smsc.js"))
            .arg(port.to_string())
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `node` for the test SMSC (is Node.js installed?): {e}"));
        let stdin = child.stdin.take().expect("stdin piped");
        let stdout = child.stdout.take().expect("stdout piped");
        let mut smsc = Smsc { child, stdin, lines: BufReader::new(stdout).lines(), pending: Vec::new(), port: 0 };
        let listening = smsc.expect("listening").await;
        smsc.port = u16::try_from(listening["port"].as_u64().expect("port")).expect("a port");
        smsc
    }

    /// The SMSC's `host:port`.
    pub(crate) fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Sends a command, and waits for its acknowledgement when it has one.
    pub(crate) async fn command(&mut self, command: Value) {
        let mut line = command.to_string();
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).await.expect("write to the SMSC");
        self.stdin.flush().await.expect("flush");
        let ack = match command["cmd"].as_str() {
            Some("mo") => Some("mo_sent"),
            Some("drop") => Some("dropped"),
            Some("exit") => None,
            Some(_) => Some("ok"),
            None => None,
        };
        if let Some(ack) = ack {
            self.expect(ack).await;
        }
    }

    /// The next event named `name` (earlier events of other names are kept for later).
    pub(crate) async fn expect(&mut self, name: &str) -> Value {
        if let Some(i) = self.pending.iter().position(|e| e["event"] == name) {
            return self.pending.remove(i);
        }
        let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT;
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.next_line())
                .await
                .unwrap_or_else(|_| {
                    panic!("no `{name}` from the SMSC within {EVENT_TIMEOUT:?}; pending: {:?}", self.pending)
                })
                .expect("read the SMSC's output")
                .unwrap_or_else(|| panic!("the SMSC exited while waiting for `{name}`"));
            let event: Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON from the SMSC: {line}: {e}"));
            if event["event"] == "error" {
                panic!("the SMSC reported an error: {event}");
            }
            if event["event"] == name {
                return event;
            }
            self.pending.push(event);
        }
    }

    /// Every event named `name` read so far and not taken, removed.
    pub(crate) fn take_pending(&mut self, name: &str) -> Vec<Value> {
        let (taken, kept) = std::mem::take(&mut self.pending).into_iter().partition(|e| e["event"] == name);
        self.pending = kept;
        taken
    }

    /// Kills the process (the SMSC dies without closing its sessions politely).
    pub(crate) async fn kill(mut self) {
        self.child.kill().await.expect("kill the SMSC");
    }
}
