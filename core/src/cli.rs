//! The command line: `--config PATH`, and CLIProxyAPI's one-shot login
//! commands for headless servers (`--claude-login`, `--codex-login`,
//! `--login` with `--project_id`, `--antigravity-login`, `--qwen-login`,
//! `--iflow-login`, `--iflow-cookie`, `--vertex-import FILE`, with
//! `--no-browser` to only print the URL). A login command runs the same
//! flow as the management API against the config's `auth-dir`, listening
//! for the browser's redirect on the provider's local port itself, and
//! exits with a message and a status.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cliproxy_login::{Provider, StartOptions};

use crate::app::App;
use crate::oauth_login::{self, sessions::Status, Listen};

pub const USAGE: &str = "usage: cliproxy [--config PATH] [login command]

  --config PATH          YAML config file (default: config.yaml in the working directory)

Login commands (write a credential file into auth-dir, then exit):
  --claude-login         Claude (Anthropic) account
  --codex-login          ChatGPT (Codex) account
  --login                Gemini CLI (Google) account; --project_id ID (or ALL)
  --antigravity-login    Antigravity (Google) account
  --qwen-login           Qwen account (device login)
  --iflow-login          iFlow account
  --iflow-cookie         iFlow account from a browser cookie (read from standard input)
  --vertex-import FILE   Vertex service-account key file; --location REGION (default us-central1)
  --no-browser           print the login URL instead of opening a browser
";

/// What the process does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Serve,
    Login {
        provider: Provider,
        project_id: Option<String>,
        no_browser: bool,
    },
    IflowCookie,
    VertexImport {
        file: PathBuf,
        location: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub config: PathBuf,
    pub command: Command,
}

/// Parses the arguments; `Err("")` asks for the usage text.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut args = args.into_iter();
    let mut config = PathBuf::from("config.yaml");
    let mut login: Option<Provider> = None;
    let mut cookie = false;
    let mut vertex: Option<PathBuf> = None;
    let mut project_id = None;
    let mut location = String::new();
    let mut no_browser = false;
    while let Some(arg) = args.next() {
        // Go-style single dashes are accepted too, as CLIProxyAPI's are.
        let flag = format!("--{}", arg.trim_start_matches('-'));
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (flag.clone(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or(format!("{what} needs a value"))
        };
        match name.as_str() {
            "--config" | "--c" => config = PathBuf::from(value("--config")?),
            "--claude-login" => login = Some(Provider::Anthropic),
            "--codex-login" => login = Some(Provider::Codex),
            "--login" => login = Some(Provider::Gemini),
            "--antigravity-login" => login = Some(Provider::Antigravity),
            "--qwen-login" => login = Some(Provider::Qwen),
            "--iflow-login" => login = Some(Provider::Iflow),
            "--iflow-cookie" => cookie = true,
            "--vertex-import" => vertex = Some(PathBuf::from(value("--vertex-import")?)),
            "--project_id" | "--project-id" => project_id = Some(value("--project_id")?),
            "--location" => location = value("--location")?,
            "--no-browser" => no_browser = true,
            "--help" | "--h" => return Err(String::new()),
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    let chosen = usize::from(login.is_some()) + usize::from(cookie) + usize::from(vertex.is_some());
    if chosen > 1 {
        return Err("choose one login command".into());
    }
    let command = match (login, cookie, vertex) {
        (Some(provider), _, _) => Command::Login {
            provider,
            project_id,
            no_browser,
        },
        (_, true, _) => Command::IflowCookie,
        (_, _, Some(file)) => Command::VertexImport { file, location },
        _ => Command::Serve,
    };
    Ok(Args { config, command })
}

/// Runs a one-shot command (anything but `Serve`) inside the runtime.
pub async fn run(app: Arc<App>, command: Command) -> ExitCode {
    let result = match command {
        Command::Serve => return ExitCode::SUCCESS,
        Command::Login {
            provider,
            project_id,
            no_browser,
        } => login(&app, provider, project_id, no_browser).await,
        Command::IflowCookie => iflow_cookie(&app).await,
        Command::VertexImport { file, location } => vertex_import(&app, &file, &location).await,
    };
    match result {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("cliproxy: {message}");
            ExitCode::from(1)
        }
    }
}

fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let opened = std::process::Command::new(opener)
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .is_ok();
    if !opened {
        println!("(could not open a browser; open the URL above yourself)");
    }
}

async fn login(
    app: &Arc<App>,
    provider: Provider,
    project_id: Option<String>,
    no_browser: bool,
) -> Result<String, String> {
    let listen = if provider == Provider::Qwen {
        Listen::None
    } else {
        Listen::Direct
    };
    let (url, state) = oauth_login::start(app, provider, StartOptions { project_id }, listen)
        .await
        .map_err(|e| e.message)?;
    println!("Open this URL to log in: {url}");
    if !no_browser {
        open_browser(&url);
    }
    let before: Vec<String> = app.auth.all().iter().map(|r| r.id.clone()).collect();
    let deadline = Instant::now() + oauth_login::WAIT + Duration::from_secs(30);
    loop {
        match app.logins.sessions.status(&state) {
            Status::Pending if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Status::Pending => return Err("login timed out".into()),
            Status::Failed(message) => return Err(format!("login failed: {message}")),
            Status::Gone => break,
        }
    }
    let written = app
        .auth
        .all()
        .into_iter()
        .filter(|r| r.provider != "unknown")
        .max_by_key(|r| (!before.contains(&r.id), r.updated_at));
    match written {
        Some(r) => Ok(format!("Authentication saved to {}", r.path.display())),
        None => Err("login ended without a credential file".into()),
    }
}

async fn iflow_cookie(app: &Arc<App>) -> Result<String, String> {
    println!("Paste the iFlow cookie (one line) and press Enter:");
    let cookie = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map(|_| line)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("cannot read the cookie: {e}"))?;
    let cookie = cookie.trim().to_string();
    if cookie.is_empty() {
        return Err("cookie is required".into());
    }
    let app2 = app.clone();
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let ep = oauth_login::endpoints(&app2, Provider::Iflow);
        let mut t = oauth_login::one_off_transport_with(app2.clone(), handle);
        let saved = cliproxy_login::cookie_login(&ep, &mut t, &cookie).map_err(|e| e.0)?;
        let path = oauth_login::save_file(&app2, &saved)?;
        Ok(format!("Authentication saved to {}", path.display()))
    })
    .await
    .map_err(|e| e.to_string())?
}

async fn vertex_import(
    app: &Arc<App>,
    file: &std::path::Path,
    location: &str,
) -> Result<String, String> {
    let key = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let (name, bytes, project, _, location) =
        crate::management::auth_files::vertex_file(&key, location).map_err(|body| {
            let msg = body.get("message").or_else(|| body.get("error"));
            msg.and_then(|m| m.as_str())
                .unwrap_or("invalid service account")
                .to_string()
        })?;
    let app2 = app.clone();
    let name2 = name.clone();
    tokio::task::spawn_blocking(move || app2.auth.write(&app2, &name2, &bytes))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot write the credential file: {e}"))?;
    Ok(format!(
        "Vertex credential for project {project} ({location}) saved to {}",
        app.auth.dir().join(&name).display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Args, String> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn flags() {
        assert_eq!(p(&[]).expect("ok").command, Command::Serve);
        let a = p(&[
            "--config",
            "c.yaml",
            "-login",
            "--project_id=ALL",
            "--no-browser",
        ])
        .expect("ok");
        assert_eq!(a.config, PathBuf::from("c.yaml"));
        assert_eq!(
            a.command,
            Command::Login {
                provider: Provider::Gemini,
                project_id: Some("ALL".into()),
                no_browser: true
            }
        );
        assert_eq!(
            p(&["--vertex-import", "k.json"]).expect("ok").command,
            Command::VertexImport {
                file: PathBuf::from("k.json"),
                location: String::new()
            }
        );
        assert!(p(&["--claude-login", "--codex-login"]).is_ok(), "last wins");
        assert!(p(&["--claude-login", "--iflow-cookie"]).is_err());
        assert!(p(&["--bogus"]).is_err());
        assert_eq!(p(&["--help"]), Err(String::new()));
        assert!(p(&["--config"]).is_err());
    }
}
