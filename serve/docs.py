"""``GET /docs`` that works offline: one self-contained HTML page drawn from the app's OpenAPI schema.

FastAPI's own ``/docs`` (Swagger UI) and ``/redoc`` load their JavaScript and CSS from a public CDN,
so with no network (the compose deployment's internal network, an offline workstation) a browser
shows a blank page. The services switch those off (``docs_url=None, redoc_url=None``) and serve
this page instead: plain HTML and inline CSS, no script, no external URL. It lists every operation
of ``app.openapi()`` (method, path, summary, description, parameters, request body with its media
types and fields, responses) so it can never disagree with what the app accepts;
``/openapi.json`` stays available for tools.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

METHODS = ("get", "post", "put", "patch", "delete", "head", "options")

_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1d2430; background: #f6f7f9; }
main { max-width: 1000px; margin: 0 auto; padding: 24px; }
h1 { margin: 0 0 4px; font-size: 24px; }
h2 { font-size: 18px; margin: 0; display: flex; gap: 10px; align-items: baseline; flex-wrap: wrap; }
h3 { font-size: 14px; margin: 14px 0 6px; text-transform: uppercase; letter-spacing: .04em; color: #5a6473; }
code, pre { font: 13px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; }
pre { background: #eef1f5; padding: 8px 10px; border-radius: 4px; overflow-x: auto; margin: 6px 0; }
nav ul { columns: 2; padding-left: 18px; }
section.op { background: #fff; border: 1px solid #d8dde5; border-radius: 6px; padding: 14px 16px; margin: 14px 0; }
.method { font-weight: 700; border-radius: 3px; padding: 1px 7px; color: #fff; background: #56606e; font-size: 13px; }
.m-get { background: #2f6fb3; } .m-post { background: #2e8a4e; } .m-delete { background: #b33a3a; }
.m-put, .m-patch { background: #a8740f; }
.path { font-size: 15px; }
.summary { font-weight: 400; color: #3b4452; }
table { border-collapse: collapse; width: 100%; margin: 4px 0; }
th, td { text-align: left; vertical-align: top; border-bottom: 1px solid #e3e7ed; padding: 4px 8px; }
th { font-size: 12px; color: #5a6473; font-weight: 600; }
.desc p { margin: 6px 0; }
.muted { color: #6b7482; }
"""


def docs_html(spec: dict[str, Any], openapi_url: str | None = "/openapi.json") -> str:
    """The whole page for an OpenAPI document (``app.openapi()``)."""
    info = spec.get("info", {})
    title = info.get("title", "API")
    ops = list(operations(spec))
    toc = "".join(f'<li><a href="#{_anchor(m, p)}"><code>{m.upper()} {_e(p)}</code></a> '
                  f'<span class="muted">{_e(op.get("summary", ""))}</span></li>' for m, p, op in ops)
    body = "".join(_operation(spec, m, p, op) for m, p, op in ops)
    schema_link = (f' &middot; machine-readable: <a href="{_e(openapi_url)}"><code>{_e(openapi_url)}</code></a>'
                   if openapi_url else "")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{_e(title)} - endpoints</title><style>{_CSS}</style></head>\n<body><main>"
        f"<h1>{_e(title)}</h1><div class=\"muted\">version {_e(info.get('version', ''))}{schema_link}</div>"
        f"<div class=\"desc\">{_text(info.get('description', ''))}</div>"
        f"<nav><h3>{len(ops)} endpoints</h3><ul>{toc}</ul></nav>{body}</main></body></html>\n")


def operations(spec: dict[str, Any]):
    """``(method, path, operation)`` for every operation, in the schema's order."""
    for path, item in spec.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


def install(app, path: str = "/docs") -> None:
    """Serve the page at ``path`` (the app must be built with ``docs_url=None, redoc_url=None``)."""
    from fastapi.responses import HTMLResponse

    page: dict[str, str] = {}

    @app.get(path, include_in_schema=False, response_class=HTMLResponse)
    def offline_docs():
        if "html" not in page:  # the schema is fixed once the app is built: render once
            page["html"] = docs_html(app.openapi(), app.openapi_url)
        return HTMLResponse(page["html"])


# -- pieces -----------------------------------------------------------------------------------
def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _anchor(method: str, path: str) -> str:
    return f"{method}-" + (re.sub(r"[^A-Za-z0-9]+", "-", path).strip("-") or "root")


def _text(text: str) -> str:
    """Plain text with blank-line paragraphs; ``code`` / `code` spans become <code>."""
    paras = [p.strip() for p in re.split(r"\n\s*\n", text or "") if p.strip()]
    out = []
    for p in paras:
        esc = _e(" ".join(p.split()))
        esc = re.sub(r"``(.+?)``|`(.+?)`", lambda m: f"<code>{m.group(1) or m.group(2)}</code>", esc)
        out.append(f"<p>{esc}</p>")
    return "".join(out)


def _resolve(spec: dict, schema: dict | None) -> dict:
    schema = schema or {}
    seen = 0
    while "$ref" in schema and seen < 20:
        ref = schema["$ref"]
        node: Any = spec
        for part in ref.lstrip("#/").split("/"):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        schema, seen = node, seen + 1
    return schema


def _type(spec: dict, schema: dict | None) -> str:
    """A short human type: ``string``, ``integer >= 1``, ``array of number | null``, ``binary``."""
    raw = schema or {}
    s = _resolve(spec, raw)
    for key in ("anyOf", "oneOf"):
        if key in s:
            return " | ".join(_type(spec, x) for x in s[key])
    if s.get("format") == "binary" or s.get("contentMediaType"):
        return "binary"
    kind = s.get("type", "object" if "properties" in s else "any")
    if isinstance(kind, list):
        kind = " | ".join(kind)
    if kind == "array":
        kind = "array of " + _type(spec, s.get("items"))
    if "$ref" in raw:
        kind = raw["$ref"].rsplit("/", 1)[-1] + f" ({kind})"
    bounds = [f"{op} {s[k]}" for k, op in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="),
                                              ("exclusiveMaximum", "<"), ("minLength", "length >="))
              if k in s]
    if "enum" in s:
        bounds.append("one of " + ", ".join(json.dumps(v) for v in s["enum"]))
    return kind + (" " + ", ".join(bounds) if bounds else "")


def _fields(spec: dict, schema: dict) -> str:
    s = _resolve(spec, schema)
    props = s.get("properties")
    if not props:
        return ""
    required = set(s.get("required", []))
    rows = "".join(
        f"<tr><td><code>{_e(name)}</code></td><td>{_e(_type(spec, p))}</td>"
        f"<td>{'yes' if name in required else 'no'}</td>"
        f"<td>{'' if 'default' not in _resolve(spec, p) else '<code>' + _e(json.dumps(_resolve(spec, p)['default'])) + '</code>'}</td>"
        f"<td>{_e(_resolve(spec, p).get('description', p.get('description', '')))}</td></tr>"
        for name, p in props.items())
    extra = "" if s.get("additionalProperties", True) is not False else \
        '<div class="muted">no other fields are accepted</div>'
    return ("<table><tr><th>field</th><th>type</th><th>required</th><th>default</th><th>meaning</th></tr>"
            f"{rows}</table>{extra}")


def _examples(spec: dict, media: dict) -> str:
    found = []
    if "example" in media:
        found.append(media["example"])
    for ex in (media.get("examples") or {}).values():
        if isinstance(ex, dict) and "value" in ex:
            found.append(ex["value"])
    schema = _resolve(spec, media.get("schema"))
    found += schema.get("examples", []) if isinstance(schema.get("examples"), list) else []
    if "example" in schema:
        found.append(schema["example"])
    return "".join(f"<div class=\"muted\">example</div><pre>{_e(_json(x))}</pre>" for x in found[:2])


def _json(value: Any) -> str:
    """An example: one line per top-level key (a list of boxes stays on its line)."""
    if isinstance(value, dict) and value:
        return "{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in value.items()) + "\n}"
    return json.dumps(value)


def _shape(spec: dict, schema: dict | None) -> str:
    """An object schema on one line: ``{"status": string, "error"?: string | null, ...}``."""
    s = _resolve(spec, schema)
    props = s.get("properties")
    if not props:
        return _type(spec, schema) if schema else "any"
    required = set(s.get("required", []))
    items = [f'"{k}"{"" if k in required else "?"}: {_type(spec, v)}' for k, v in props.items()]
    if s.get("additionalProperties") not in (None, False):
        items.append("...")
    return "{" + ", ".join(items) + "}"


def _content(spec: dict, content: dict, full: bool = True) -> str:
    """Media types of a body; ``full``: field table and description (request bodies), else one line."""
    parts = []
    for media_type, media in (content or {}).items():
        schema = media.get("schema")
        if not full:
            parts.append(f"<div><code>{_e(media_type)}</code>: <code>{_e(_shape(spec, schema))}</code></div>"
                         + _examples(spec, media))
            continue
        parts.append(f"<div><code>{_e(media_type)}</code>: {_e(_type(spec, schema)) if schema else 'any'}</div>"
                     + (f"<div class=\"desc\">{_text(_resolve(spec, schema).get('description', ''))}</div>"
                        if schema else "")
                     + (_fields(spec, schema) if schema else "") + _examples(spec, media))
    return "".join(parts)


def _operation(spec: dict, method: str, path: str, op: dict) -> str:
    out = [f'<section class="op" id="{_anchor(method, path)}" data-method="{method.upper()}" data-path="{_e(path)}">'
           f'<h2><span class="method m-{method}">{method.upper()}</span><code class="path">{_e(path)}</code>'
           f'<span class="summary">{_e(op.get("summary", ""))}</span></h2>']
    if op.get("description"):
        out.append(f'<div class="desc">{_text(op["description"])}</div>')
    params = op.get("parameters") or []
    if params:
        rows = "".join(
            f"<tr><td><code>{_e(p.get('name'))}</code></td><td>{_e(p.get('in'))}</td>"
            f"<td>{_e(_type(spec, p.get('schema')))}</td><td>{'yes' if p.get('required') else 'no'}</td>"
            f"<td>{'' if 'default' not in (p.get('schema') or {}) else '<code>' + _e(json.dumps(p['schema']['default'])) + '</code>'}</td>"
            f"<td>{_e(p.get('description', (p.get('schema') or {}).get('description', '')))}</td></tr>"
            for p in params)
        out.append("<h3>Parameters</h3><table><tr><th>name</th><th>in</th><th>type</th><th>required</th>"
                   f"<th>default</th><th>meaning</th></tr>{rows}</table>")
    body = op.get("requestBody")
    if body:
        out.append(f"<h3>Request body{' (required)' if body.get('required') else ''}</h3>"
                   f"<div class=\"desc\">{_text(body.get('description', ''))}</div>"
                   + _content(spec, body.get("content")))
    responses = op.get("responses") or {}
    if responses:
        out.append("<h3>Responses</h3>")
        for code, resp in responses.items():
            out.append(f"<div><b>{_e(code)}</b> {_e(resp.get('description', ''))}</div>"
                       + _content(spec, resp.get("content"), full=False))
    out.append("</section>")
    return "".join(out)
