//! The thinking suffix of a model name (proxy spec §3.2): `model(N)` is a
//! thinking budget of N tokens, `model(level)` a reasoning effort. Routing
//! uses the base name; the setting is written into the request body in the
//! client's own format (which is the upstream format, as nothing is
//! translated), only when a suffix was given.

use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::endpoints::ClientFormat;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Thinking {
    Budget(i64),
    Level(String),
}

/// Splits `name(x)` into `name` and the setting; anything else is unchanged.
pub fn split(model: &str) -> (&str, Option<Thinking>) {
    let Some(open) = model.rfind('(') else {
        return (model, None);
    };
    let Some(inner) = model[open + 1..].strip_suffix(')') else {
        return (model, None);
    };
    let base = &model[..open];
    let inner = inner.trim();
    if base.is_empty() || inner.is_empty() {
        return (model, None);
    }
    match inner.parse::<i64>() {
        Ok(n) => (base, Some(Thinking::Budget(n))),
        Err(_) => (base, Some(Thinking::Level(inner.to_ascii_lowercase()))),
    }
}

fn effort(t: &Thinking) -> String {
    match t {
        Thinking::Level(l) => l.clone(),
        Thinking::Budget(n) if *n <= 0 => "none".into(),
        Thinking::Budget(n) if *n <= 1024 => "low".into(),
        Thinking::Budget(n) if *n <= 8192 => "medium".into(),
        Thinking::Budget(_) => "high".into(),
    }
}

fn budget(t: &Thinking) -> i64 {
    match t {
        Thinking::Budget(n) => *n,
        Thinking::Level(l) => match l.as_str() {
            "none" => 0,
            "minimal" | "low" => 1024,
            "medium" => 8192,
            _ => 24576,
        },
    }
}

/// Removes `key` from `map` as an object (a new one if absent or not an object).
fn take_object(map: &mut Map<String, Value>, key: &str) -> Map<String, Value> {
    match map.remove(key) {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// The body with the thinking setting applied (unchanged if it is not a
/// JSON object).
pub fn apply(body: &Bytes, format: ClientFormat, t: &Thinking) -> Bytes {
    let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(body) else {
        return body.clone();
    };
    match format {
        ClientFormat::OpenAiChat | ClientFormat::OpenAiCompletions => {
            map.insert("reasoning_effort".into(), Value::String(effort(t)));
        }
        ClientFormat::OpenAiResponses => {
            let mut reasoning = take_object(&mut map, "reasoning");
            reasoning.insert("effort".into(), Value::String(effort(t)));
            map.insert("reasoning".into(), Value::Object(reasoning));
        }
        ClientFormat::Claude => {
            let n = budget(t);
            let value = if n <= 0 {
                json!({"type": "disabled"})
            } else {
                json!({"type": "enabled", "budget_tokens": n})
            };
            map.insert("thinking".into(), value);
        }
        ClientFormat::Gemini => {
            let mut generation = take_object(&mut map, "generationConfig");
            let mut cfg = take_object(&mut generation, "thinkingConfig");
            match t {
                Thinking::Budget(n) => cfg.insert("thinkingBudget".into(), json!(n)),
                Thinking::Level(l) => cfg.insert("thinkingLevel".into(), json!(l)),
            };
            generation.insert("thinkingConfig".into(), Value::Object(cfg));
            map.insert("generationConfig".into(), Value::Object(generation));
        }
    }
    serde_json::to_vec(&Value::Object(map))
        .map(Bytes::from)
        .unwrap_or_else(|_| body.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits() {
        assert_eq!(split("m(8192)"), ("m", Some(Thinking::Budget(8192))));
        assert_eq!(
            split("m(High)"),
            ("m", Some(Thinking::Level("high".into())))
        );
        assert_eq!(split("m"), ("m", None));
        assert_eq!(split("(3)"), ("(3)", None));
        assert_eq!(split("m()"), ("m()", None));
    }

    #[test]
    fn applies_per_format() {
        let body = Bytes::from_static(br#"{"model":"m","generationConfig":{"temperature":1}}"#);
        let out: Value =
            serde_json::from_slice(&apply(&body, ClientFormat::Gemini, &Thinking::Budget(100)))
                .expect("json");
        assert_eq!(
            out["generationConfig"]["thinkingConfig"]["thinkingBudget"],
            100
        );
        assert_eq!(out["generationConfig"]["temperature"], 1);
        let out: Value = serde_json::from_slice(&apply(
            &body,
            ClientFormat::Claude,
            &Thinking::Level("medium".into()),
        ))
        .expect("json");
        assert_eq!(out["thinking"]["budget_tokens"], 8192);
        let out: Value = serde_json::from_slice(&apply(
            &body,
            ClientFormat::OpenAiChat,
            &Thinking::Budget(0),
        ))
        .expect("json");
        assert_eq!(out["reasoning_effort"], "none");
    }
}
