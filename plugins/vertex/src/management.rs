//! The `/vertex-api-key` route: the shared list conventions with vertex's own
//! DELETE rule (the key is trimmed, and removing nothing is still a 200).

use cliproxy_kit::{DeleteRules, ListRules, Selector};

use crate::config::CONFIG_KEY;

pub const ROUTE: &str = "/vertex-api-key";

pub const RULES: ListRules = ListRules {
    key: CONFIG_KEY,
    selector: Selector::ApiKey,
    delete: DeleteRules {
        trim: true,
        missing_is_404: false,
    },
    shown_always: &[],
    legacy_keys: &[],
};
