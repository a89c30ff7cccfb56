//! The `/claude-api-key` route: the shared list conventions with claude's own
//! DELETE rule (the key is compared exactly, and removing nothing is still a 200).

use cliproxy_kit::{DeleteRules, ListRules, Selector};

use crate::config::CONFIG_KEY;

pub const ROUTE: &str = "/claude-api-key";

pub const RULES: ListRules = ListRules {
    key: CONFIG_KEY,
    selector: Selector::ApiKey,
    delete: DeleteRules {
        trim: false,
        missing_is_404: false,
    },
    shown_always: &["base-url", "proxy-url", "models"],
    legacy_keys: &[],
};
