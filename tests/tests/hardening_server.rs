//! The listener under hostile or careless clients and upstreams: HTTPS with
//! a generated certificate (HTTP/2 and HTTP/1.1 by ALPN, reload on change,
//! refusal of a bad pair), slow-header and idle connections, a stream that
//! outlasts the header timeout, and an upstream `Retry-After: 1e20`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cliproxy_tests::{http, End, Reply, Server, StandIn};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const KEY: &str = "tls-mgmt-key";

/// A self-signed certificate for 127.0.0.1 and localhost: (cert PEM, key PEM, cert DER).
fn certificate(name: &str) -> (String, String, Vec<u8>) {
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("cert");
    (cert.pem(), key.serialize_pem(), cert.der().to_vec())
}

/// A TLS client that trusts exactly `der` and offers `alpn`.
async fn tls_connect(
    port: u16,
    der: &[u8],
    alpn: &[&[u8]],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(der.to_vec()))
        .expect("trust the test certificate");
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    connector.connect(name, tcp).await.expect("TLS handshake")
}

fn request(method: &str, path: &str, body: &str) -> http::Request<Full<Bytes>> {
    http::Request::builder()
        .method(method)
        .uri(format!("https://localhost{path}"))
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request")
}

async fn read(resp: http::Response<hyper::body::Incoming>) -> (u16, serde_json::Value) {
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

fn tls_config(up: &StandIn) -> String {
    format!(
        r#"
tls:
  enable: true
  cert: tls/cert.pem
  key: tls/key.pem
remote-management:
  secret-key: "{KEY}"
openai-compatibility:
  - name: up
    base-url: {}/v1
    models: [{{name: up-model, alias: m}}]
"#,
        up.url()
    )
}

#[tokio::test]
async fn https_with_http2_and_http1_by_alpn_and_reload() {
    let up = StandIn::start().await;
    up.respond_with(|_| {
        Reply::json(
            200,
            json!({"id": "c", "object": "chat.completion", "model": "up-model",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]}),
        )
    });
    let (cert, key, der) = certificate("first");
    let server = Server::builder(&tls_config(&up))
        .file("tls/cert.pem", cert)
        .file("tls/key.pem", key)
        .start();

    // HTTP/2 by ALPN: a management call and a proxied call.
    let stream = tls_connect(server.port, &der, &[b"h2", b"http/1.1"]).await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut h2, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("h2 handshake");
    tokio::spawn(conn);
    let (status, body) = read(
        h2.send_request(request("GET", "/v0/management/debug", ""))
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"debug": false}));
    let chat = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).to_string();
    let (status, body) = read(
        h2.send_request(request("POST", "/v1/chat/completions", &chat))
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "hi");

    // HTTP/1.1 by ALPN.
    let stream = tls_connect(server.port, &der, &[b"http/1.1"]).await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (mut h1, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("h1 handshake");
    tokio::spawn(conn);
    let (status, _) = read(
        h1.send_request(request("GET", "/", ""))
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, 200);

    // Plain HTTP on the HTTPS port gets no HTTP answer.
    let mut plain = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .expect("connect");
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut buf)).await;
    assert!(
        !buf.starts_with(b"HTTP/1.1 200"),
        "plain HTTP served on the HTTPS port"
    );

    // A new pair written over the files is served without a restart.
    let (cert2, key2, der2) = certificate("second");
    std::fs::write(server.dir.path().join("tls/key.pem"), key2).expect("key");
    std::fs::write(server.dir.path().join("tls/cert.pem"), cert2).expect("cert");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let stream = tls_connect_any(server.port).await;
        let presented = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first().map(|c| c.to_vec()))
            .unwrap_or_default();
        if presented == der2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was not picked up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The client trusting the new certificate gets through.
    let _ok = tls_connect(server.port, &der2, &[b"http/1.1"]).await;
}

/// Connects accepting any certificate (to see which one is presented).
async fn tls_connect_any(port: u16) -> tokio_rustls::client::TlsStream<TcpStream> {
    #[derive(Debug)]
    struct AnyCert;
    impl rustls::client::danger::ServerCertVerifier for AnyCert {
        fn verify_server_cert(
            &self,
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &[rustls::pki_types::CertificateDer<'_>],
            _: &rustls::pki_types::ServerName<'_>,
            _: &[u8],
            _: rustls::pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            _: &[u8],
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn verify_tls13_signature(
            &self,
            _: &[u8],
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            rustls::crypto::ring::default_provider()
                .signature_verification_algorithms
                .supported_schemes()
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(AnyCert))
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    connector.connect(name, tcp).await.expect("TLS handshake")
}

#[tokio::test]
async fn an_unreadable_certificate_stops_the_start() {
    cliproxy_tests::ensure_built();
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join("config.yaml"),
        "host: 127.0.0.1\nport: 0\ntls:\n  enable: true\n  cert: missing.pem\n  key: missing-key.pem\n",
    )
    .expect("config");
    let out = std::process::Command::new(cliproxy_tests::server::bin_dir().join("cliproxy"))
        .arg("--config")
        .arg(dir.path().join("config.yaml"))
        .env("HOME", dir.path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot read TLS certificate"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("cliproxy ready"), "{stdout}");
}

#[tokio::test]
async fn slow_and_idle_clients_do_not_hold_the_server() {
    let server = Server::start("server-limits:\n  header-timeout-seconds: 2\n");
    // 5,000 connections that never send a byte.
    let mut idle = Vec::with_capacity(5000);
    for _ in 0..50 {
        let mut batch = tokio::task::JoinSet::new();
        for _ in 0..100 {
            let port = server.port;
            batch.spawn(async move { TcpStream::connect(("127.0.0.1", port)).await });
        }
        while let Some(c) = batch.join_next().await {
            idle.push(c.expect("join").expect("idle connect"));
        }
    }
    // A slow-header client: one byte every 300 ms.
    let port = server.port;
    let slow = tokio::spawn(async move {
        let mut s = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("slow connect");
        for b in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: yes\r\n".iter() {
            if s.write_all(&[*b]).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let mut buf = [0u8; 64];
        matches!(s.read(&mut buf).await, Ok(0) | Err(_))
    });
    // A normal client is served at once meanwhile.
    let mut worst = Duration::ZERO;
    for _ in 0..5 {
        let t = Instant::now();
        let r = http("GET", &server.url("/"), &[], "").await;
        assert_eq!(r.status, 200);
        worst = worst.max(t.elapsed());
    }
    eprintln!("normal client beside 5,000 idle connections: worst of 5 = {worst:?}");
    assert!(worst < Duration::from_millis(500), "served in {worst:?}");
    // The silent connections are closed once the header timeout passes.
    let mut closed = 0;
    for s in idle.iter_mut().take(50) {
        let mut buf = [0u8; 16];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_secs(6), s.read(&mut buf)).await
        {
            closed += 1;
        }
    }
    assert_eq!(closed, 50, "idle connections closed by the header timeout");
    assert!(
        slow.await.expect("slow task"),
        "the slow-header client was cut off"
    );
    let r = http("GET", &server.url("/"), &[], "").await;
    assert_eq!(r.status, 200, "still serving");
}

/// The header timeout counts from a connection's last answer, not from its
/// last request's head: a kept-alive connection is closed once it has been
/// idle that long, and an answer that streams for longer is never cut.
#[tokio::test]
async fn a_long_stream_runs_on_and_its_idle_connection_closes_after() {
    let up = StandIn::start().await;
    let events: Vec<String> = (0..3)
        .map(|i| {
            let delta =
                json!({"choices": [{"index": 0, "delta": {"content": format!("part{i}")}}]});
            format!("data: {delta}\n\n")
        })
        .collect();
    up.push(Reply::sse_paced(
        &events,
        Duration::from_millis(1500),
        End::Finish,
    ));
    let server = Server::start(&format!(
        "server-limits:\n  header-timeout-seconds: 2\nopenai-compatibility:\n  - name: up\n    base-url: {}\n    models:\n      - name: m\n",
        up.url()
    ));
    let body =
        json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "x"}]})
            .to_string();
    let mut s = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .expect("connect");
    let started = Instant::now();
    s.write_all(
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .expect("request");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.ends_with(b"\r\n0\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .expect("the stream went quiet")
            .expect("read");
        assert!(
            n > 0,
            "closed mid-stream after {:?}: {}",
            started.elapsed(),
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    let streamed = started.elapsed();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("part2"), "{text}");
    assert!(
        streamed >= Duration::from_secs(4),
        "streamed for {streamed:?}"
    );
    // Now idle: closed after the timeout (checked every quarter of it).
    let idle = Instant::now();
    let end = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await;
    let idle = idle.elapsed();
    assert!(matches!(end, Ok(Ok(0) | Err(_))), "{end:?}");
    assert!(
        idle >= Duration::from_millis(1900) && idle < Duration::from_millis(3500),
        "closed after {idle:?} idle"
    );
}

#[tokio::test]
async fn an_absurd_retry_after_is_capped_and_answered_cleanly() {
    let up = StandIn::start().await;
    up.respond_with(|_| {
        Reply::json(429, json!({"error": {"message": "slow down"}}))
            .with_header("retry-after", "1e20")
    });
    let server = Server::start(&format!(
        "openai-compatibility:\n  - name: up\n    base-url: {}/v1\n    models: [{{name: x, alias: m}}]\n",
        up.url()
    ));
    let chat = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).to_string();
    let r = http(
        "POST",
        &server.url("/v1/chat/completions"),
        &[],
        chat.clone(),
    )
    .await;
    assert_eq!(r.status, 429, "{}", r.text());
    // The credential cools down for at most 30 minutes, not for years.
    let r = http("POST", &server.url("/v1/chat/completions"), &[], chat).await;
    assert_eq!(r.status, 429, "{}", r.text());
    let body = r.json();
    assert_eq!(body["error"]["code"], "model_cooldown");
    let secs = body["error"]["reset_seconds"]
        .as_u64()
        .expect("reset_seconds");
    assert!((1..=1800).contains(&secs), "{secs}");
    let r = http("GET", &server.url("/"), &[], "").await;
    assert_eq!(r.status, 200, "still serving");
}

/// An HTTPS forward proxy on 127.0.0.1: TLS with `cert`, then `CONNECT`,
/// then bytes piped both ways. Records the CONNECT lines it saw.
async fn https_proxy(cert_pem: &str, key_pem: &str) -> (u16, Arc<std::sync::Mutex<Vec<String>>>) {
    use rustls::pki_types::pem::PemObject;
    let certs =
        vec![rustls::pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes()).expect("cert")];
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let seen = seen2.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if tls.read_exact(&mut byte).await.is_err() {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).to_string();
                seen.lock().expect("lock").push(head.clone());
                let Some(target) = head
                    .lines()
                    .next()
                    .and_then(|l| l.strip_prefix("CONNECT "))
                    .and_then(|l| l.split(' ').next())
                    .map(str::to_string)
                else {
                    return;
                };
                let Ok(mut up) = TcpStream::connect(target).await else {
                    return;
                };
                if tls
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    (port, seen)
}

#[tokio::test]
async fn upstream_calls_go_through_an_https_proxy() {
    let up = StandIn::start().await;
    up.respond_with(|_| {
        Reply::json(
            200,
            json!({"id": "c", "object": "chat.completion", "model": "x",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "via proxy"}, "finish_reason": "stop"}]}),
        )
    });
    let (cert, key, _) = certificate("proxy");
    let (port, seen) = https_proxy(&cert, &key).await;
    let server = Server::builder(&format!(
        "proxy-url: https://user:pw@127.0.0.1:{port}\nupstream-ca-file: proxy-ca.pem\nopenai-compatibility:\n  - name: up\n    base-url: {}/v1\n    models: [{{name: x, alias: m}}]\n",
        up.url()
    ))
    .file("proxy-ca.pem", cert)
    .start();
    let chat = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).to_string();
    let r = http("POST", &server.url("/v1/chat/completions"), &[], chat).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["choices"][0]["message"]["content"], "via proxy");
    let seen = seen.lock().expect("lock").clone();
    let up_addr = up.url().trim_start_matches("http://").to_string();
    assert!(
        seen.iter()
            .any(|h| h.starts_with(&format!("CONNECT {up_addr} "))),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|h| h
            .to_ascii_lowercase()
            .contains("proxy-authorization: basic dxnlcjpwdw==")),
        "proxy credentials sent: {seen:?}"
    );
}
