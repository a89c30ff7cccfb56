//! The default model catalogues (proxy spec §3.1): what a credential serves
//! when its config entry lists no `models`. Providers without a catalogue
//! (openai-compatibility entries) serve exactly their `models` list.

const CLAUDE: &[&str] = &[
    "claude-haiku-4-5-20251001",
    "claude-sonnet-4-5-20250929",
    "claude-opus-4-5-20251101",
    "claude-opus-4-1-20250805",
    "claude-opus-4-20250514",
    "claude-sonnet-4-20250514",
    "claude-3-7-sonnet-20250219",
    "claude-3-5-haiku-20241022",
];

const CODEX: &[&str] = &[
    "gpt-5",
    "gpt-5-codex",
    "gpt-5-codex-mini",
    "gpt-5.1",
    "gpt-5.1-codex",
    "gpt-5.1-codex-mini",
    "gpt-5.1-codex-max",
    "gpt-5.2",
    "gpt-5.2-codex",
];

const GEMINI: &[&str] = &[
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-3-pro-preview",
    "gemini-3-flash-preview",
    "gemini-3-pro-image-preview",
];

/// Gemini CLI accounts (`type: gemini` files): no image model.
const GEMINI_CLI: &[&str] = &[
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-3-pro-preview",
    "gemini-3-flash-preview",
];

/// The default ids for a provider id (empty: none). Antigravity accounts
/// list their models upstream; until that is fetched they serve the Gemini
/// CLI list.
pub fn default_models(provider: &str) -> &'static [&'static str] {
    match provider {
        "claude" => CLAUDE,
        "codex" => CODEX,
        "gemini" | "vertex" => GEMINI,
        "gemini-cli" | "antigravity" => GEMINI_CLI,
        _ => &[],
    }
}

/// `owned_by` in model lists for providers with a catalogue.
pub fn owner(provider: &str) -> Option<&'static str> {
    match provider {
        "claude" => Some("anthropic"),
        "codex" => Some("openai"),
        "gemini" | "vertex" | "gemini-cli" | "antigravity" => Some("google"),
        "qwen" => Some("qwen"),
        "iflow" => Some("iflow"),
        _ => None,
    }
}
