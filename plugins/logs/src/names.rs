//! File names of request logs (logs spec §3) and of the application log's
//! rotated files (§2).

/// `<name>` of a request log from its URL: the path without query and
/// leading `/`; `/`, `:`, `<>"|?*`, `\` and whitespace become `-`, runs of
/// `-` collapse, leading and trailing `-` go; empty is `root`.
pub fn path_name(url: &str) -> String {
    let path = url.split('?').next().unwrap_or("");
    let path = path.strip_prefix('/').unwrap_or(path);
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        let c = if matches!(c, '/' | ':' | '<' | '>' | '"' | '|' | '?' | '*' | '\\')
            || c.is_whitespace()
            || c.is_control()
        {
            '-'
        } else {
            c
        };
        if c == '-' && out.ends_with('-') {
            continue;
        }
        out.push(c);
    }
    let trimmed = out.trim_matches('-');
    // A path of dots only would make a name like `..-…`; harmless, but say
    // what it is.
    if trimmed.is_empty() || trimmed.chars().all(|c| c == '.') {
        return "root".into();
    }
    // Names stay well under the usual 255-byte file name limit.
    let mut end = trimmed.len().min(150);
    while !trimmed.is_char_boundary(end) {
        end -= 1;
    }
    trimmed[..end].trim_end_matches('-').to_string()
}

/// `YYYY-MM-DDTHHMMSS` from an RFC 3339 time in the server's zone (the
/// record's own offset); `None` if it is not one.
pub fn file_time(rfc3339: &str) -> Option<String> {
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339).ok()?;
    Some(t.format("%Y-%m-%dT%H%M%S").to_string())
}

/// The request log's file name (`error-` prefixed for error logs).
pub fn request_log_name(url: &str, time: &str, id: &str, error: bool) -> String {
    format!(
        "{}{}-{}-{}.log",
        if error { "error-" } else { "" },
        path_name(url),
        time,
        id
    )
}

/// Where a file of the application log sits in reading order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum AppLogFile {
    /// `main.log.N` (larger N is older: sorts first).
    Numbered(std::cmp::Reverse<u64>),
    /// `main-<2006-01-02T15-04-05.000>.log[.gz]` (sorts by time).
    Stamped(String),
    /// `main.log`, always last.
    Active,
}

impl AppLogFile {
    pub fn of(name: &str) -> Option<AppLogFile> {
        if name == "main.log" {
            return Some(AppLogFile::Active);
        }
        if let Some(n) = name.strip_prefix("main.log.") {
            return n
                .parse::<u64>()
                .ok()
                .map(|n| AppLogFile::Numbered(std::cmp::Reverse(n)));
        }
        let stamp = name
            .strip_prefix("main-")
            .and_then(|r| r.strip_suffix(".log").or_else(|| r.strip_suffix(".log.gz")))?;
        valid_stamp(stamp).then(|| AppLogFile::Stamped(stamp.to_string()))
    }

    pub fn is_rotated(&self) -> bool {
        !matches!(self, AppLogFile::Active)
    }
}

/// `2006-01-02T15-04-05.000`.
fn valid_stamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 23
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 | 13 | 16 => *c == b'-',
            10 => *c == b'T',
            19 => *c == b'.',
            _ => c.is_ascii_digit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_spec() {
        assert_eq!(path_name("/v1/chat/completions"), "v1-chat-completions");
        assert_eq!(
            path_name("/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse&key=x"),
            "v1beta-models-gemini-2.5-pro-streamGenerateContent"
        );
        assert_eq!(path_name("/"), "root");
        assert_eq!(path_name("/a//b  c|d"), "a-b-c-d");
        assert_eq!(path_name("/../.."), "..-..");
        assert_eq!(path_name("/.."), "root");
        assert_eq!(
            request_log_name("/v1/messages", "2026-01-05T195811", "a1b2c3d4", true),
            "error-v1-messages-2026-01-05T195811-a1b2c3d4.log"
        );
        assert_eq!(
            file_time("2026-01-05T19:58:11.123+08:00").as_deref(),
            Some("2026-01-05T195811")
        );
        assert_eq!(file_time("nope"), None);
    }

    #[test]
    fn app_log_files_sort_oldest_first() {
        let mut files: Vec<AppLogFile> = [
            "main.log",
            "main-2026-01-05T10-00-00.000.log",
            "main.log.1",
            "main-2026-01-04T10-00-00.000.log.gz",
            "main.log.3",
        ]
        .iter()
        .filter_map(|n| AppLogFile::of(n))
        .collect();
        files.sort();
        assert_eq!(
            files,
            vec![
                AppLogFile::Numbered(std::cmp::Reverse(3)),
                AppLogFile::Numbered(std::cmp::Reverse(1)),
                AppLogFile::Stamped("2026-01-04T10-00-00.000".into()),
                AppLogFile::Stamped("2026-01-05T10-00-00.000".into()),
                AppLogFile::Active,
            ]
        );
        for n in [
            "main.log.x",
            "main-.log",
            "main-2026.log",
            "other.log",
            "main.log.gz",
        ] {
            assert_eq!(AppLogFile::of(n), None, "{n}");
        }
    }
}
