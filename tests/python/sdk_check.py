"""Drives the official OpenAI, Anthropic and Google GenAI Python SDKs
through a running cliproxy (plain and streaming calls for each), against
stand-in upstreams that the Rust test harness started.

Usage: sdk_check.py PROXY_URL CLIENT_KEY
Prints one line per check and exits non-zero on the first mismatch.
"""

import sys


def check(name, got, want):
    if got != want:
        print(f"FAIL {name}: got {got!r}, want {want!r}")
        sys.exit(1)
    print(f"ok   {name}")


def run_openai(base, key):
    from openai import OpenAI

    client = OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)
    messages = [{"role": "user", "content": "hi"}]
    resp = client.chat.completions.create(model="gpt-test", messages=messages)
    check("openai plain", resp.choices[0].message.content, "Hello")
    check("openai usage", resp.usage.total_tokens, 7)
    stream = client.chat.completions.create(model="gpt-test", messages=messages, stream=True)
    text = "".join(
        chunk.choices[0].delta.content or ""
        for chunk in stream
        if chunk.choices
    )
    check("openai stream", text, "Hello")


def run_anthropic(base, key):
    import anthropic

    client = anthropic.Anthropic(base_url=base, api_key=key, max_retries=0)
    messages = [{"role": "user", "content": "hi"}]
    model = "claude-sonnet-4-5-20250929"
    msg = client.messages.create(model=model, max_tokens=16, messages=messages)
    check("anthropic plain", msg.content[0].text, "Hello")
    with client.messages.stream(model=model, max_tokens=16, messages=messages) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    check("anthropic stream", text, "Hello")
    check("anthropic stream usage", final.usage.output_tokens, 2)


def run_genai(base, key):
    from google import genai
    from google.genai import types

    client = genai.Client(
        api_key=key,
        http_options=types.HttpOptions(base_url=base, api_version="v1beta"),
    )
    resp = client.models.generate_content(model="gemini-2.5-pro", contents="hi")
    check("genai plain", resp.text, "Hello")
    text = "".join(
        chunk.text or ""
        for chunk in client.models.generate_content_stream(model="gemini-2.5-pro", contents="hi")
    )
    check("genai stream", text, "Hello")


def main():
    base, key = sys.argv[1], sys.argv[2]
    run_openai(base, key)
    run_anthropic(base, key)
    run_genai(base, key)
    print("all SDK checks passed")


if __name__ == "__main__":
    main()
