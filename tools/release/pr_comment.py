"""One pull-request comment per stack, created once and then updated in place.

The body is the review text of ``make diff`` (resources, policies, cost) verbatim, then the output of
``pulumi preview --policy-pack policies`` in a collapsed block. The first line is a hidden marker naming the
stack, ``<!-- mlops-platform:review stack=<name> -->``; ``--post`` looks for the comment that starts with it
(paging through every comment of the pull request) and updates it, or creates it when there is none.
GitHub caps a comment at 65,536 characters: the preview is cut first (its end, with the summary, is kept),
then the review text.

Token: ``GITHUB_TOKEN``; API: ``GITHUB_API_URL`` (default https://api.github.com).

Exit codes: 0; 2 bad input (missing file, no token) or the GitHub API refused (the HTTP status is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .common import STACK_NAME, ReleaseError, run_cli

LIMIT = 65_536
_OUTCOMES = {"success": "succeeded", "failure": "failed", "skipped": "skipped", "cancelled": "cancelled"}


def marker(stack: str) -> str:
    """The hidden first line that identifies a stack's comment."""
    return f"<!-- mlops-platform:review stack={stack} -->"


def body(stack: str, review: str, preview: str, outcome: str, commit: str) -> str:
    """The comment: marker, review text, preview (collapsed), the commit it describes; at most LIMIT characters."""
    state = _OUTCOMES.get(outcome, outcome)
    head = f"{marker(stack)}\n"
    preview_head = f"\n### `pulumi preview` with the policy pack: {state}\n\n<details><summary>preview output</summary>\n\n```\n"
    tail = f"\n```\n\n</details>\n\n<sub>Commit `{commit}`. Updated in place by the preview workflow.</sub>\n"
    review = review.rstrip("\n") + "\n"
    preview = preview.replace("```", "`\u200b``").rstrip("\n")
    room = LIMIT - len(head) - len(preview_head) - len(tail)
    if len(review) > room // 2 and len(review) + len(preview) > room:
        note = "\n… review text cut to fit the comment; run `make diff` locally for all of it.\n"
        keep = max(room // 2 - len(note), 0)
        review = review[:keep] + note
    room -= len(review)
    if len(preview) > room:
        note = "… preview cut to fit the comment; the workflow log has all of it.\n"
        preview = note + preview[len(preview) - max(room - len(note), 0) :]
    return head + review + preview_head + preview + tail


class GitHub:
    """The three REST calls the upsert needs."""

    def __init__(self, api: str, repo: str, token: str) -> None:
        self.api, self.repo, self.token = api.rstrip("/"), repo, token

    def call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            f"{self.api}{path}",
            method=method,
            data=json.dumps(payload).encode() if payload is not None else None,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raise ReleaseError(f"GitHub API {method} {path}: HTTP {error.code}") from None
        except urllib.error.URLError as error:
            raise ReleaseError(f"GitHub API {method} {path}: {error.reason}") from None

    def upsert(self, pr: int, stack: str, text: str) -> tuple[str, int]:
        """Update the stack's comment or create it; returns ("updated" | "created", comment id)."""
        page = 1
        while True:
            comments = self.call("GET", f"/repos/{self.repo}/issues/{pr}/comments?per_page=100&page={page}")
            for comment in comments:
                if str(comment.get("body") or "").startswith(marker(stack)):
                    self.call("PATCH", f"/repos/{self.repo}/issues/comments/{comment['id']}", {"body": text})
                    return "updated", int(comment["id"])
            if len(comments) < 100:
                break
            page += 1
        created = self.call("POST", f"/repos/{self.repo}/issues/{pr}/comments", {"body": text})
        return "created", int(created["id"])


def _read(path: Path | None, what: str) -> str:
    if path is None:
        return ""
    try:
        return path.read_text(errors="replace")
    except OSError as error:
        raise ReleaseError(f"cannot read the {what} file {path}: {error.strerror}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pr_comment", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--review", type=Path, required=True, help="the `make diff` text")
    parser.add_argument("--preview", type=Path, help="the `pulumi preview` output")
    parser.add_argument("--outcome", default="success", help="outcome of the preview step (success, failure, skipped)")
    parser.add_argument("--commit", default="", help="the commit the comment describes")
    parser.add_argument("--out", type=Path, help="write the body here")
    parser.add_argument("--post", action="store_true", help="create or update the comment on the pull request")
    parser.add_argument("--repo", help="owner/name (with --post)")
    parser.add_argument("--pr", type=int, help="pull request number (with --post)")
    args = parser.parse_args(argv)

    def run() -> int:
        if not STACK_NAME.match(args.stack):
            raise ReleaseError(f"invalid stack name {args.stack!r}")
        text = body(args.stack, _read(args.review, "review"), _read(args.preview, "preview"), args.outcome, args.commit)
        if args.out is not None:
            args.out.write_text(text)
        if not args.post:
            return 0
        token = os.environ.get("GITHUB_TOKEN", "")
        if not token or not args.repo or not args.pr or not re.match(r"^[\w.-]+/[\w.-]+$", args.repo):
            raise ReleaseError("--post needs --repo owner/name, --pr and the GITHUB_TOKEN environment variable")
        api = GitHub(os.environ.get("GITHUB_API_URL") or "https://api.github.com", args.repo, token)
        action, number = api.upsert(args.pr, args.stack, text)
        print(f"pr_comment: {action} comment {number} for stack {args.stack} on pull request {args.pr}")
        return 0

    return run_cli("pr_comment", run)


if __name__ == "__main__":
    sys.exit(main())
