//! The thinking suffix of a requested model (`model(8192)`, `model(high)`,
//! proxy spec §3.2). The core routes on the base name and hands the suffix
//! over in [`UpstreamCall::thinking`](cliproxy_sdk::UpstreamCall); it is
//! written into the request here, in the upstream's own format.

use serde_json::{json, Map, Value};

use super::ir::{bad_request, PluginError, Reasoning};
use super::json_in;
use super::Format;

/// The setting a suffix names (`None` for an empty one).
pub fn parse(suffix: &str) -> Option<Reasoning> {
    let s = suffix.trim();
    if s.is_empty() {
        return None;
    }
    Some(match s.parse::<i64>() {
        Ok(n) => Reasoning::Budget(n),
        Err(_) => Reasoning::Effort(s.to_ascii_lowercase()),
    })
}

fn take_object(map: &mut Map<String, Value>, key: &str) -> Map<String, Value> {
    match map.remove(key) {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// `body` (in `format`) with the setting applied.
pub fn apply(
    format: Format,
    body: &[u8],
    model: &str,
    r: &Reasoning,
) -> Result<Vec<u8>, PluginError> {
    let Ok(Value::Object(mut map)) = json_in::parse::<Value>(body) else {
        return Err(bad_request("the body is not a JSON object"));
    };
    match format {
        Format::Chat | Format::Completions => {
            map.insert("reasoning_effort".into(), json!(r.effort()));
        }
        Format::Responses => {
            let mut reasoning = take_object(&mut map, "reasoning");
            reasoning.insert("effort".into(), json!(r.effort()));
            map.insert("reasoning".into(), Value::Object(reasoning));
        }
        Format::Claude => {
            let n = r.budget();
            let value = if n == 0 {
                json!({"type": "disabled"})
            } else {
                json!({"type": "enabled", "budget_tokens": if n < 0 { 8192 } else { n }})
            };
            map.insert("thinking".into(), value);
        }
        Format::Gemini => {
            let mut generation = take_object(&mut map, "generationConfig");
            let mut cfg = take_object(&mut generation, "thinkingConfig");
            match r {
                Reasoning::Effort(l) if model.contains("gemini-3") => {
                    cfg.insert("thinkingLevel".into(), json!(l))
                }
                other => cfg.insert("thinkingBudget".into(), json!(other.budget())),
            };
            generation.insert("thinkingConfig".into(), Value::Object(cfg));
            map.insert("generationConfig".into(), Value::Object(generation));
        }
    }
    super::json_out::to_bytes(&Value::Object(map))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_per_format() {
        let body = br#"{"model":"m","generationConfig":{"temperature":1}}"#;
        let out: Value = serde_json::from_slice(
            &apply(
                Format::Gemini,
                body,
                "gemini-2.5-pro",
                &Reasoning::Budget(100),
            )
            .expect("ok"),
        )
        .expect("json");
        assert_eq!(
            out["generationConfig"]["thinkingConfig"]["thinkingBudget"],
            100
        );
        assert_eq!(out["generationConfig"]["temperature"], 1);
        let level = parse("Medium").expect("level");
        let out: Value =
            serde_json::from_slice(&apply(Format::Claude, body, "c", &level).expect("ok"))
                .expect("json");
        assert_eq!(out["thinking"]["budget_tokens"], 8192);
        let out: Value = serde_json::from_slice(
            &apply(Format::Chat, body, "g", &Reasoning::Budget(0)).expect("ok"),
        )
        .expect("json");
        assert_eq!(out["reasoning_effort"], "none");
        assert_eq!(parse(" "), None);
    }
}
