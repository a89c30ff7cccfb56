//! The `/openai-compatibility` route: the shared list conventions, selected
//! by provider `name` (PATCH `"name"`, trimmed; DELETE `?name=`, exact;
//! removing nothing is still a 200).

use cliproxy_kit::{DeleteRules, ListRules, Selector};

use crate::config::CONFIG_KEY;

pub const ROUTE: &str = "/openai-compatibility";

pub const RULES: ListRules = ListRules {
    key: CONFIG_KEY,
    selector: Selector::Name,
    delete: DeleteRules {
        trim: false,
        missing_is_404: false,
    },
    shown_always: &["models"],
    legacy_keys: &[],
};
