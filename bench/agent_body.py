#!/usr/bin/env python3
"""A synthetic request body the size and shape of a coding agent's (issue 16).

Coding agents send the whole conversation with every request: a long
system prompt, a dozen or more tool declarations with JSON schemas, and
turns of text, tool calls and tool results (file contents, command
output). The text here is generated filler, not any product's prompt.

    bench/agent_body.py claude [--model M] [--stream] [--turns N] > body.json
    bench/agent_body.py responses ...   # the same conversation, Responses shape
    bench/agent_body.py gemini ...      # and Gemini's (the model is in the URL)
    bench/agent_body.py chat ...        # and OpenAI chat's (same-format calls
                                        # through instructions.sh's upstream)

Deterministic: the same arguments give the same bytes.
"""
import argparse
import json

WORDS = ("the proxy reads every field of the request and writes it again in "
         "the shape the upstream expects while the client waits for the first "
         "token of the answer").split()


def filler(n_words, seed):
    return " ".join(WORDS[(seed * 7 + i * 3) % len(WORDS)] for i in range(n_words))


def file_text(lines, seed):
    return "\n".join(f"{i + 1:4}  fn step_{seed}_{i}() {{ /* {filler(8, seed + i)} */ }}"
                     for i in range(lines))


def tools(n):
    out = []
    for i in range(n):
        out.append({
            "name": f"tool_{i}",
            "description": filler(60, i),
            "schema": {
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": filler(12, i + 1)},
                    "limit": {"type": "integer", "minimum": 1},
                    "mode": {"type": "string", "enum": ["read", "write", "append"]},
                    "options": {"type": "object", "properties": {
                        "recursive": {"type": "boolean"},
                        "pattern": {"type": "string"}}},
                },
                "required": ["path"],
                "additionalProperties": False,
            },
        })
    return out


def conversation(turns):
    """(kind, ...) steps: user text, assistant text + a call, the result."""
    steps = [("user", filler(80, 0))]
    for t in range(turns):
        call_id = f"call_{t:04}"
        steps.append(("assistant", filler(40, t + 3), call_id, f"tool_{t % 12}",
                      {"path": f"src/module_{t}.rs", "limit": 200}))
        steps.append(("result", call_id, file_text(24, t)))
    steps.append(("user", filler(30, 99)))
    return steps


def claude(args):
    messages = []
    for s in conversation(args.turns):
        if s[0] == "user":
            messages.append({"role": "user", "content": [{"type": "text", "text": s[1]}]})
        elif s[0] == "assistant":
            messages.append({"role": "assistant", "content": [
                {"type": "text", "text": s[1]},
                {"type": "tool_use", "id": s[2], "name": s[3], "input": s[4]}]})
        else:
            messages.append({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": s[1], "content": s[2]}]})
    # The last user turn carries a cache marker, as agents send them.
    messages[-1]["content"][-1]["cache_control"] = {"type": "ephemeral"}
    return {
        "model": args.model, "max_tokens": 8192, "stream": args.stream,
        "system": [{"type": "text", "text": filler(1500, 1),
                    "cache_control": {"type": "ephemeral"}}],
        "tools": [{"name": t["name"], "description": t["description"],
                   "input_schema": t["schema"]} for t in tools(12)],
        "messages": messages,
    }


def responses(args):
    items = []
    for s in conversation(args.turns):
        if s[0] == "user":
            items.append({"type": "message", "role": "user",
                          "content": [{"type": "input_text", "text": s[1]}]})
        elif s[0] == "assistant":
            items.append({"type": "message", "role": "assistant",
                          "content": [{"type": "output_text", "text": s[1]}]})
            items.append({"type": "function_call", "call_id": s[2], "name": s[3],
                          "arguments": json.dumps(s[4])})
        else:
            items.append({"type": "function_call_output", "call_id": s[1], "output": s[2]})
    return {
        "model": args.model, "stream": args.stream, "instructions": filler(1500, 1),
        "tools": [{"type": "function", "name": t["name"], "description": t["description"],
                   "parameters": t["schema"]} for t in tools(12)],
        "input": items,
    }


def chat(args):
    messages = [{"role": "system", "content": filler(1500, 1)}]
    for s in conversation(args.turns):
        if s[0] == "user":
            messages.append({"role": "user", "content": s[1]})
        elif s[0] == "assistant":
            messages.append({"role": "assistant", "content": s[1], "tool_calls": [
                {"id": s[2], "type": "function",
                 "function": {"name": s[3], "arguments": json.dumps(s[4])}}]})
        else:
            messages.append({"role": "tool", "tool_call_id": s[1], "content": s[2]})
    return {
        "model": args.model, "stream": args.stream, "max_tokens": 8192,
        "tools": [{"type": "function", "function": {
            "name": t["name"], "description": t["description"], "parameters": t["schema"]}}
            for t in tools(12)],
        "messages": messages,
    }


def gemini(args):
    contents = []
    names = {}
    for s in conversation(args.turns):
        if s[0] == "user":
            contents.append({"role": "user", "parts": [{"text": s[1]}]})
        elif s[0] == "assistant":
            names[s[2]] = s[3]
            contents.append({"role": "model", "parts": [
                {"text": s[1]}, {"functionCall": {"name": s[3], "args": s[4]}}]})
        else:
            contents.append({"role": "user", "parts": [{"functionResponse": {
                "name": names[s[1]], "response": {"output": s[2]}}}]})
    # Gemini's schemas have no additionalProperties.
    declarations = []
    for t in tools(12):
        schema = dict(t["schema"])
        del schema["additionalProperties"]
        declarations.append({"name": t["name"], "description": t["description"],
                             "parameters": schema})
    return {
        "systemInstruction": {"parts": [{"text": filler(1500, 1)}]},
        "tools": [{"functionDeclarations": declarations}],
        "contents": contents,
        "generationConfig": {"maxOutputTokens": 8192},
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("shape", choices=["claude", "responses", "gemini", "chat"])
    p.add_argument("--model", default="bench-plain")
    p.add_argument("--stream", action="store_true")
    p.add_argument("--turns", type=int, default=20)
    args = p.parse_args()
    body = {"claude": claude, "responses": responses, "gemini": gemini,
            "chat": chat}[args.shape](args)
    print(json.dumps(body, separators=(",", ":")))


if __name__ == "__main__":
    main()
