//! A real `redis-server` for the replica tests (included with `#[path]`):
//! on a free 127.0.0.1 port, in a temp folder, without persistence. It
//! can be stopped and started again on the same port. A missing
//! `redis-server` fails the test with a message saying how to install it:
//! these tests never fall back to a mock or skip.

// Each including test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut server = RedisServer {
            child: None,
            port: free_port(),
            dir,
        };
        server.launch();
        server
    }

    /// Starts the server process and waits for its ready line.
    fn launch(&mut self) {
        let spawned = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => panic!(
                "cannot run redis-server ({e}); these tests need a real Redis: \
                 install it with `apt-get install -y redis-server` (.ci/run does)"
            ),
        };
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if line.contains("Ready to accept connections") {
                    let _ = tx.send(());
                }
            }
        });
        if rx.recv_timeout(Duration::from_secs(20)).is_err() {
            let _ = child.kill();
            panic!("redis-server on port {} did not become ready", self.port);
        }
        self.child = Some(child);
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Stops the server (SIGKILL: as a crash or a lost network would).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port (empty: no persistence).
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// One command over RESP; the reply as text (arrays one item a line).
    pub fn cmd(&self, args: &[&str]) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to redis");
        s.set_read_timeout(Some(Duration::from_secs(5))).ok();
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).expect("send");
        let mut r = BufReader::new(s);
        read_reply(&mut r)
    }

    /// Every key name that starts with `prefix`.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let pattern = format!("{prefix}*");
        self.cmd(&["KEYS", &pattern])
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }
}

fn read_reply(r: &mut impl BufRead) -> String {
    let mut line = String::new();
    r.read_line(&mut line).expect("reply");
    let line = line.trim_end().to_string();
    let (kind, rest) = line.split_at(1);
    match kind {
        "+" | ":" => rest.to_string(),
        "-" => format!("ERR {rest}"),
        "$" => {
            let n: i64 = rest.parse().expect("length");
            if n < 0 {
                return String::new();
            }
            let mut buf = vec![0u8; usize::try_from(n).expect("size") + 2];
            r.read_exact(&mut buf).expect("bulk");
            String::from_utf8_lossy(&buf[..buf.len() - 2]).into_owned()
        }
        "*" => {
            let n: i64 = rest.parse().expect("count");
            (0..n.max(0))
                .map(|_| read_reply(r))
                .collect::<Vec<_>>()
                .join("\n")
        }
        _ => panic!("unexpected reply {line:?}"),
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
