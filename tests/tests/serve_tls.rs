//! serve over HTTPS with client certificates (mutual TLS), with a CA, a server and clients made
//! here by the openssl CLI; curl (OpenSSL's TLS, not rustls) is the client.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use tests::{root, run_ctrace, skip_or_fail};

/// `openssl` with these space-separated arguments, in `dir`.
fn openssl(dir: &Path, args: &str) {
    let out = Command::new("openssl")
        .args(args.split(' '))
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const EC: &str = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";

/// A CA (`NAME-ca.pem`, `NAME-ca.key`) in `dir`.
fn ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &format!(
            "req -x509 {EC} -keyout {name}-ca.key -out {name}-ca.pem -days 1 -subj /CN={name}-ca \
             -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"
        ),
    );
}

/// A leaf `NAME.pem` / `NAME.key` signed by CA `by`, with these extensions.
fn leaf(dir: &Path, name: &str, by: &str, ext: &str) {
    openssl(
        dir,
        &format!("req {EC} -keyout {name}.key -out {name}.csr -subj /CN={name}"),
    );
    std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
    openssl(
        dir,
        &format!(
            "x509 -req -in {name}.csr -CA {by}-ca.pem -CAkey {by}-ca.key -CAcreateserial \
             -out {name}.pem -days 1 -extfile {name}.ext"
        ),
    );
}

/// curl's HTTP status for `url` (0 when there was none) and its exit code.
fn curl(dir: &Path, url: &str, client: Option<&str>) -> (u16, i32) {
    let mut cmd = Command::new("curl");
    cmd.current_dir(dir)
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ])
        .args(["--cacert", "ours-ca.pem"]);
    if let Some(c) = client {
        cmd.args(["--cert", &format!("{c}.pem"), "--key", &format!("{c}.key")]);
    }
    let out = cmd.arg(url).output().expect("curl");
    let code = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    (code, out.status.code().unwrap_or(-1))
}

fn certificates() -> Option<PathBuf> {
    if Command::new("openssl").arg("version").output().is_err()
        || Command::new("curl").arg("--version").output().is_err()
    {
        skip_or_fail("openssl and curl are needed");
        return None;
    }
    let dir = std::env::temp_dir().join(format!("ctrace-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    ca(&dir, "ours");
    ca(&dir, "rogue");
    let leaf_ext = "basicConstraints=CA:FALSE\n";
    leaf(
        &dir,
        "server",
        "ours",
        &format!("{leaf_ext}subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
    );
    leaf(
        &dir,
        "client",
        "ours",
        &format!("{leaf_ext}extendedKeyUsage=clientAuth\n"),
    );
    leaf(
        &dir,
        "stranger",
        "rogue",
        &format!("{leaf_ext}extendedKeyUsage=clientAuth\n"),
    );
    Some(dir)
}

#[test]
fn client_certificates_authenticate_a_network_listen() {
    if !root() {
        return;
    }
    let Some(dir) = certificates() else { return };
    let p = |f: &str| dir.join(f).to_str().unwrap().to_string();
    // TLS alone authenticates nobody: beyond loopback it is refused like plain HTTP.
    let (code, _, err) = run_ctrace(&[
        "serve",
        "zombie",
        "--listen",
        "0.0.0.0:0",
        "--duration",
        "1s",
        "--tls-cert",
        &p("server.pem"),
        "--tls-key",
        &p("server.key"),
    ]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--tls-client-ca"), "{err}");
    // With client certificates it is accepted, on every address (loopback included).
    let tracer = tests::Tracer::start(&[
        "serve",
        "zombie",
        "--listen",
        "0.0.0.0:0",
        "--interval",
        "200ms",
        "--findings-out",
        &p("findings.ndjson"),
        "--tls-cert",
        &p("server.pem"),
        "--tls-key",
        &p("server.key"),
        "--tls-client-ca",
        &p("ours-ca.pem"),
    ]);
    let port = tracer
        .stderr
        .iter()
        .find_map(|l| l.split("https://0.0.0.0:").nth(1)?.split('/').next())
        .unwrap_or_else(|| panic!("no https address in {:#?}", tracer.stderr))
        .to_string();
    let url = |path: &str| format!("https://127.0.0.1:{port}{path}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while curl(&dir, &url("/findings"), Some("client")).0 != 200 {
        assert!(
            Instant::now() < deadline,
            "no 200 with the client certificate"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for path in ["/metrics", "/findings", "/report", "/healthz"] {
        assert_eq!(curl(&dir, &url(path), Some("client")).0, 200, "{path}");
        // No certificate, or one another CA signed: the handshake fails, no HTTP answer.
        for who in [None, Some("stranger")] {
            let (code, exit) = curl(&dir, &url(path), who);
            assert_eq!(code, 0, "{path} answered {code} to {who:?}");
            assert_ne!(exit, 0, "{path} with {who:?}");
        }
    }
    // Plain HTTP on the TLS port gets no answer either.
    let (code, _) = curl(&dir, &format!("http://127.0.0.1:{port}/metrics"), None);
    assert_ne!(code, 200);
    assert!(tracer.terminate().success());
    let _ = std::fs::remove_dir_all(&dir);
}
