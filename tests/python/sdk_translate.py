"""Drives the official OpenAI (chat and Responses), Anthropic and Google
GenAI Python SDKs through a running cliproxy on models of every *other*
API format: a plain call, a streamed call and a tool-call round trip each.
The stand-in upstreams answer in their own wire format; cliproxy
translates both ways.

Usage: sdk_translate.py PROXY_URL CLIENT_KEY
Prints one line per check and exits non-zero on the first mismatch.
"""

import json
import sys

GEMINI = "gemini-2.5-pro"
CLAUDE = "claude-sonnet-4-5-20250929"
CODEX = "gpt-5"
OPENAI = "acme-model"

SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}


def check(name, got, want):
    if got != want:
        print(f"FAIL {name}: got {got!r}, want {want!r}")
        sys.exit(1)
    print(f"ok   {name}")


def run_chat(base, key):
    from openai import OpenAI

    client = OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather by city", "parameters": SCHEMA}}]
    for model in (CLAUDE, GEMINI, CODEX):
        tag = f"openai chat on {model}"
        messages = [{"role": "user", "content": "hi"}]
        resp = client.chat.completions.create(model=model, messages=messages)
        check(f"{tag}: plain", resp.choices[0].message.content, "Hello")
        stream = client.chat.completions.create(model=model, messages=messages, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        check(f"{tag}: stream", text, "Hello")
        messages = [{"role": "user", "content": "Weather in Paris?"}]
        resp = client.chat.completions.create(model=model, messages=messages, tools=tools)
        call = resp.choices[0].message.tool_calls[0]
        check(f"{tag}: tool call", (call.function.name, json.loads(call.function.arguments)),
              ("get_weather", {"city": "Paris"}))
        check(f"{tag}: finish", resp.choices[0].finish_reason, "tool_calls")
        messages.append(resp.choices[0].message.model_dump(exclude_none=True))
        messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny"})
        resp = client.chat.completions.create(model=model, messages=messages, tools=tools)
        check(f"{tag}: tool result answered", resp.choices[0].message.content, "Hello")


def run_responses(base, key):
    from openai import OpenAI

    client = OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)
    tools = [{"type": "function", "name": "get_weather", "description": "Weather by city",
              "parameters": SCHEMA}]
    for model in (OPENAI, CLAUDE, GEMINI):
        tag = f"openai responses on {model}"
        resp = client.responses.create(model=model, input="hi")
        check(f"{tag}: plain", resp.output_text, "Hello")
        text = ""
        completed = False
        for ev in client.responses.create(model=model, input="hi", stream=True):
            if ev.type == "response.output_text.delta":
                text += ev.delta
            completed = completed or ev.type == "response.completed"
        check(f"{tag}: stream", (text, completed), ("Hello", True))
        inputs = [{"role": "user", "content": "Weather in Paris?"}]
        resp = client.responses.create(model=model, input=inputs, tools=tools)
        calls = [o for o in resp.output if o.type == "function_call"]
        check(f"{tag}: tool call", (calls[0].name, json.loads(calls[0].arguments)),
              ("get_weather", {"city": "Paris"}))
        inputs.append({"type": "function_call", "call_id": calls[0].call_id,
                       "name": calls[0].name, "arguments": calls[0].arguments})
        inputs.append({"type": "function_call_output", "call_id": calls[0].call_id,
                       "output": "sunny"})
        resp = client.responses.create(model=model, input=inputs, tools=tools)
        check(f"{tag}: tool result answered", resp.output_text, "Hello")


def run_anthropic(base, key):
    import anthropic

    client = anthropic.Anthropic(base_url=base, api_key=key, max_retries=0)
    tools = [{"name": "get_weather", "description": "Weather by city", "input_schema": SCHEMA}]
    for model in (GEMINI, CODEX, OPENAI):
        tag = f"anthropic on {model}"
        messages = [{"role": "user", "content": "hi"}]
        msg = client.messages.create(model=model, max_tokens=64, messages=messages)
        check(f"{tag}: plain", msg.content[0].text, "Hello")
        with client.messages.stream(model=model, max_tokens=64, messages=messages) as stream:
            text = "".join(stream.text_stream)
            final = stream.get_final_message()
        check(f"{tag}: stream", (text, final.stop_reason), ("Hello", "end_turn"))
        messages = [{"role": "user", "content": "Weather in Paris?"}]
        with client.messages.stream(model=model, max_tokens=64, messages=messages,
                                    tools=tools) as stream:
            final = stream.get_final_message()
        use = [b for b in final.content if b.type == "tool_use"][0]
        check(f"{tag}: streamed tool call", (use.name, use.input, final.stop_reason),
              ("get_weather", {"city": "Paris"}, "tool_use"))
        messages.append({"role": "assistant", "content": [b.model_dump() for b in final.content]})
        messages.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}]})
        msg = client.messages.create(model=model, max_tokens=64, messages=messages, tools=tools)
        check(f"{tag}: tool result answered", msg.content[0].text, "Hello")


def run_genai(base, key):
    from google import genai
    from google.genai import types

    client = genai.Client(
        api_key=key,
        http_options=types.HttpOptions(base_url=base, api_version="v1beta"),
    )
    decl = types.FunctionDeclaration(
        name="get_weather", description="Weather by city", parameters_json_schema=SCHEMA)
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[decl])],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    for model in (OPENAI, CLAUDE, CODEX):
        tag = f"genai on {model}"
        resp = client.models.generate_content(model=model, contents="hi")
        check(f"{tag}: plain", resp.text, "Hello")
        text = "".join(
            c.text or "" for c in client.models.generate_content_stream(model=model, contents="hi"))
        check(f"{tag}: stream", text, "Hello")
        contents = [types.Content(role="user", parts=[types.Part(text="Weather in Paris?")])]
        resp = client.models.generate_content(model=model, contents=contents, config=config)
        call = resp.function_calls[0]
        check(f"{tag}: tool call", (call.name, dict(call.args)), ("get_weather", {"city": "Paris"}))
        contents.append(resp.candidates[0].content)
        contents.append(types.Content(role="user", parts=[
            types.Part.from_function_response(name=call.name, response={"result": "sunny"})]))
        resp = client.models.generate_content(model=model, contents=contents, config=config)
        check(f"{tag}: tool result answered", resp.text, "Hello")


def main():
    base, key = sys.argv[1], sys.argv[2]
    run_chat(base, key)
    run_responses(base, key)
    run_anthropic(base, key)
    run_genai(base, key)
    print("all translation SDK checks passed")


if __name__ == "__main__":
    main()
