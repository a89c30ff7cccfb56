//! The `/gemini-api-key` route: the shared list conventions with gemini's
//! own DELETE rule (the key is trimmed, and removing nothing is a 404).

use cliproxy_kit::{DeleteRules, ListRules, Selector};

use crate::config::{CONFIG_KEY, LEGACY_KEY};

pub const ROUTE: &str = "/gemini-api-key";

pub const RULES: ListRules = ListRules {
    key: CONFIG_KEY,
    selector: Selector::ApiKey,
    delete: DeleteRules {
        trim: true,
        missing_is_404: true,
    },
    shown_always: &[],
    legacy_keys: &[LEGACY_KEY],
};
