//! aiosmtpd as a real SMTP server (`tests/smtpd/server.py`), one process per test on
//! a port of its own, and the certificates it presents, made here with rcgen: a CA
//! and a certificate it signed for `localhost`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

const SERVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtpd/server.py");
const REQUIREMENTS: &str = "crates/vigie-alert/tests/smtpd/requirements.txt";

/// How the server protects its connections.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Plain,
    StartTls,
    Tls,
}

/// A CA, and a server certificate it signed for `localhost`, written as PEM files.
pub(crate) struct TestCa {
    pub(crate) ca_pem: String,
    cert_path: PathBuf,
    key_path: PathBuf,
    _dir: TempDir,
}

impl TestCa {
    pub(crate) fn new() -> TestCa {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "Vigie test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key")).expect("CA");

        let key = KeyPair::generate().expect("server key");
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("server params");
        params.distinguished_name.push(DnType::CommonName, "localhost");
        let cert = params.signed_by(&key, &ca).expect("server certificate");

        let dir = tempfile::tempdir().expect("temp dir");
        let cert_path = dir.path().join("server.pem");
        let key_path = dir.path().join("server.key");
        std::fs::write(&cert_path, cert.pem()).expect("write certificate");
        std::fs::write(&key_path, key.serialize_pem()).expect("write key");
        TestCa { ca_pem: ca.pem(), cert_path, key_path, _dir: dir }
    }
}

/// A running aiosmtpd; killed when dropped.
pub(crate) struct Smtpd {
    pub(crate) port: u16,
    out: TempDir,
    _child: Child,
}

impl Smtpd {
    /// Starts the server and waits until it listens. `login`: the user and password
    /// it requires.
    pub(crate) async fn start(mode: Mode, ca: Option<&TestCa>, login: Option<(&str, &str)>) -> Smtpd {
        require_aiosmtpd().await;
        let out = tempfile::tempdir().expect("temp dir");
        let mut command = Command::new("python3");
        command.arg(SERVER).arg("--out").arg(out.path());
        if mode != Mode::Plain {
            let ca = ca.expect("TLS needs certificates");
            command.arg("--cert").arg(&ca.cert_path).arg("--key").arg(&ca.key_path);
            command.arg(if mode == Mode::Tls { "--tls" } else { "--starttls" });
        }
        if let Some((user, password)) = login {
            command.args(["--user", user, "--password", password]);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await;
        let port = match ready {
            Ok(Ok(Some(line))) if line.starts_with("READY ") => line["READY ".len()..].parse().expect("port"),
            other => {
                let mut stderr = String::new();
                if let Some(mut err) = child.stderr.take() {
                    let _ = tokio::time::timeout(Duration::from_secs(2), err.read_to_string(&mut stderr)).await;
                }
                panic!("server.py did not start ({other:?}): {stderr}");
            }
        };
        Smtpd { port, out, _child: child }
    }

    /// The messages received so far, as the files the server wrote, in order.
    pub(crate) fn messages(&self) -> Vec<Vec<u8>> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.out.path())
            .expect("output directory")
            .map(|entry| entry.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        paths.sort();
        paths.iter().map(|p| std::fs::read(p).expect("message file")).collect()
    }
}

/// Fails, saying what to install, when aiosmtpd is missing: the e-mail tests are not
/// skipped.
async fn require_aiosmtpd() {
    let found = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
    match found {
        Ok(status) if status.success() => {}
        _ => panic!(
            "the e-mail tests need Python 3 with aiosmtpd: run `python3 -m pip install -r {REQUIREMENTS}` \
             from the repository's root (.ci/run does)"
        ),
    }
}
