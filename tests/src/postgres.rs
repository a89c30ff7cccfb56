//! A real, throwaway PostgreSQL server on 127.0.0.1 for the replica tests.
//!
//! `initdb` into a fresh folder under /tmp, then `pg_ctl start` on a free
//! port with trust authentication, the socket in the same folder and
//! `fsync=off` (the data is thrown away). PostgreSQL refuses to run as root,
//! so as root both run as the `postgres` user, who owns the folder. Missing
//! binaries fail the test with a message naming the package: these tests
//! never skip (`.ci/run` installs `postgresql-15`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct PgServer {
    pub port: u16,
    bin: PathBuf,
    /// Owned by `postgres` when running as root; removed on drop.
    base: tempfile::TempDir,
    running: bool,
}

/// The folder with `initdb`, `pg_ctl` and `postgres`.
fn bin_dir() -> PathBuf {
    let mut candidates = vec![PathBuf::from("/usr/lib/postgresql/15/bin")];
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut found: Vec<PathBuf> = entries.flatten().map(|e| e.path().join("bin")).collect();
        found.sort();
        candidates.extend(found.into_iter().rev());
    }
    candidates
        .into_iter()
        .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
        .unwrap_or_else(|| {
            panic!(
                "PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin; \
                 install them with `apt-get install -y postgresql-15` (.ci/run does this)"
            )
        })
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A command run as the `postgres` user when we are root.
fn as_owner(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

fn run(mut cmd: Command, what: &str) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl PgServer {
    /// Initialises and starts a new server.
    pub fn start() -> PgServer {
        let bin = bin_dir();
        let base = tempfile::Builder::new()
            .prefix("cliproxy-pg-")
            .tempdir_in("/tmp")
            .expect("temp folder for PostgreSQL");
        if is_root() {
            let mut chown = Command::new("chown");
            chown.arg("-R").arg("postgres:").arg(base.path());
            run(chown, "chown of the PostgreSQL folder");
        }
        let mut initdb = as_owner(&bin.join("initdb"));
        initdb.arg("-D").arg(base.path().join("data")).args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        ]);
        run(initdb, "initdb");
        let mut server = PgServer {
            port: free_port(),
            bin,
            base,
            running: false,
        };
        server.resume();
        server
    }

    /// `postgres://` URL of the `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server (fast shutdown: clients are disconnected).
    pub fn stop(&mut self) {
        let mut c = as_owner(&self.bin.join("pg_ctl"));
        c.arg("-D")
            .arg(self.base.path().join("data"))
            .args(["-m", "fast", "-w", "stop"]);
        run(c, "pg_ctl stop");
        self.running = false;
    }

    /// Starts the stopped server again on the same port and data.
    pub fn resume(&mut self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c full_page_writes=off",
            self.port,
            self.base.path().display()
        );
        let mut c = as_owner(&self.bin.join("pg_ctl"));
        c.arg("-D")
            .arg(self.base.path().join("data"))
            .arg("-l")
            .arg(self.base.path().join("server.log"))
            .args(["-w", "-t", "60", "-o", &options, "start"]);
        run(c, "pg_ctl start");
        self.running = true;
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.running {
            let _ = as_owner(&self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(self.base.path().join("data"))
                .args(["-m", "immediate", "-w", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}
