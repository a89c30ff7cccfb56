//! What the Responses writers write, as typed shapes that borrow their
//! text: the `response` object, its output items and usage, in the API's
//! member order (`type` first in items and parts).
//!
//! These were built as `serde_json` values: a sorted map per object, a
//! copy of every string, and a `response.completed` event carrying every
//! item again. The stream's opening and closing events cost more than all
//! of its deltas; written from these shapes they cost their bytes.

use serde::{Serialize, Serializer};

use super::ir::{Finish, TokenUsage};

/// A `response` object, as `response.created` opens it, as
/// `response.completed` closes it, or as a whole answer.
#[derive(Serialize)]
pub(super) struct ResponseOut<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created_at: i64,
    pub status: &'static str,
    pub error: Option<()>,
    pub incomplete_details: Option<Incomplete>,
    pub model: &'a str,
    pub output: &'a [ItemOut<'a>],
    pub parallel_tool_calls: bool,
    pub tool_choice: &'static str,
    pub tools: [(); 0],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageOut>,
}

impl<'a> ResponseOut<'a> {
    /// A response with nothing generated yet (`in_progress`).
    pub fn new(id: &'a str, model: &'a str, created_at: i64) -> Self {
        ResponseOut {
            id,
            object: "response",
            created_at,
            status: "in_progress",
            error: None,
            incomplete_details: None,
            model,
            output: &[],
            parallel_tool_calls: true,
            tool_choice: "auto",
            tools: [],
            usage: None,
        }
    }

    /// The finished response: its status from how it ended, its items and
    /// its usage.
    pub fn finished(
        mut self,
        finish: Finish,
        output: &'a [ItemOut<'a>],
        usage: Option<&TokenUsage>,
    ) -> Self {
        let (status, details) = status_of(finish);
        self.status = status;
        self.incomplete_details = details;
        self.output = output;
        self.usage = usage.map(UsageOut::from);
        self
    }
}

/// `completed`, or `incomplete` and why.
fn status_of(f: Finish) -> (&'static str, Option<Incomplete>) {
    match f {
        Finish::Length => (
            "incomplete",
            Some(Incomplete {
                reason: "max_output_tokens",
            }),
        ),
        Finish::ContentFilter => (
            "incomplete",
            Some(Incomplete {
                reason: "content_filter",
            }),
        ),
        _ => ("completed", None),
    }
}

#[derive(Serialize)]
pub(super) struct Incomplete {
    pub reason: &'static str,
}

/// One output item.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum ItemOut<'a> {
    Message {
        id: &'a str,
        status: &'static str,
        role: &'static str,
        /// None as the item opens: `[]`.
        content: OneOrNone<OutputText<'a>>,
    },
    Reasoning {
        id: &'a str,
        /// None as the item opens: `[]`.
        summary: OneOrNone<SummaryText<'a>>,
    },
    FunctionCall {
        id: &'a str,
        call_id: &'a str,
        name: &'a str,
        arguments: &'a str,
        status: &'static str,
    },
}

impl<'a> ItemOut<'a> {
    /// The assistant's message, with its text or (as it opens) none.
    pub fn message(id: &'a str, text: Option<&'a str>, status: &'static str) -> Self {
        ItemOut::Message {
            id,
            status,
            role: "assistant",
            content: OneOrNone(text.map(OutputText::new)),
        }
    }

    /// A reasoning summary, with its text or (as it opens) none.
    pub fn reasoning(id: &'a str, text: Option<&'a str>) -> Self {
        ItemOut::Reasoning {
            id,
            summary: OneOrNone(text.map(SummaryText::new)),
        }
    }
}

/// A message's text part.
#[derive(Serialize)]
#[serde(tag = "type", rename = "output_text")]
pub(super) struct OutputText<'a> {
    pub text: &'a str,
    pub annotations: [(); 0],
}

impl<'a> OutputText<'a> {
    pub fn new(text: &'a str) -> Self {
        OutputText {
            text,
            annotations: [],
        }
    }
}

/// A reasoning item's summary part.
#[derive(Serialize)]
#[serde(tag = "type", rename = "summary_text")]
pub(super) struct SummaryText<'a> {
    pub text: &'a str,
}

impl<'a> SummaryText<'a> {
    pub fn new(text: &'a str) -> Self {
        SummaryText { text }
    }
}

/// A list of at most one element: `[]` or `[x]`.
pub(super) struct OneOrNone<T>(pub Option<T>);

impl<T: Serialize> Serialize for OneOrNone<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter())
    }
}

/// Responses usage.
#[derive(Serialize)]
pub(super) struct UsageOut {
    pub input_tokens: i64,
    pub input_tokens_details: CachedOut,
    pub output_tokens: i64,
    pub output_tokens_details: ReasoningOut,
    pub total_tokens: i64,
}

#[derive(Serialize)]
pub(super) struct CachedOut {
    pub cached_tokens: i64,
}

#[derive(Serialize)]
pub(super) struct ReasoningOut {
    pub reasoning_tokens: i64,
}

impl From<&TokenUsage> for UsageOut {
    fn from(u: &TokenUsage) -> Self {
        UsageOut {
            input_tokens: u.input_tokens,
            input_tokens_details: CachedOut {
                cached_tokens: u.cached_tokens,
            },
            output_tokens: u.output_tokens,
            output_tokens_details: ReasoningOut {
                reasoning_tokens: u.reasoning_tokens,
            },
            total_tokens: u.total_tokens,
        }
    }
}
