"""Graph checks on a built dialplan: references, reachability, loops and prompts.

The same function backs ``ivr dialplan check``, the admin editor's live validation and
publishing, so office staff see one set of messages everywhere.
"""

from __future__ import annotations

from pathlib import Path

from ivr.flow.issues import Issue
from ivr.flow.model import (
    Dialplan,
    HoursNode,
    LanguageNode,
    Node,
    engine_prompts,
)
from ivr.prompts.catalogue import full_catalogue


def validate(dialplan: Dialplan, prompts_dir: str | Path | None = None) -> list[Issue]:
    """Every problem found; an empty list means the dialplan can go live."""
    issues: list[Issue] = []

    def fail(node: Node | None, message: str) -> None:
        issues.append(
            Issue(dialplan.source, node.line if node else 0, node.id if node else "", message)
        )

    nodes = dialplan.nodes
    if dialplan.general_operator not in dialplan.departments:
        fail(None, f"general_operator '{dialplan.general_operator}' is not a department")
    if dialplan.start not in nodes:
        fail(None, f"start node '{dialplan.start}' does not exist")

    for dept in dialplan.departments.values():
        if dept.saturation is not None and dept.saturation.offer not in nodes:
            fail(
                None,
                f"department '{dept.id}': saturation offer '{dept.saturation.offer}' is not a node",
            )

    for node in nodes.values():
        for target in node.targets():
            if target and target not in nodes:
                fail(node, f"goes to unknown node '{target}'")
        for dept in node.departments():
            if dept not in dialplan.departments:
                verb = "hours of" if isinstance(node, HoursNode) else "transfer to"
                fail(node, f"{verb} unknown department '{dept}'")
        if isinstance(node, LanguageNode):
            for digit, lang in node.options.items():
                if lang not in dialplan.languages:
                    fail(node, f"option {digit} offers language '{lang}' not in languages")

    reachable = reachable_nodes(dialplan)
    for node in nodes.values():
        if node.id not in reachable:
            fail(node, f"unreachable: no path leads here from start node '{dialplan.start}'")

    for loop in _automatic_loops(dialplan, reachable):
        first = nodes[loop[0]]
        fail(
            first,
            "loop with no exit: " + " -> ".join(loop + [loop[0]]) + " never waits for the caller",
        )

    if prompts_dir is not None:
        issues += _prompt_issues(dialplan, reachable, prompts_dir)
    return sorted(set(issues))


def reachable_nodes(dialplan: Dialplan) -> set[str]:
    seen: set[str] = set()
    stack = [dialplan.start] if dialplan.start in dialplan.nodes else []
    # a department's saturation offer is reached by whoever transfers there
    stack += [
        d.saturation.offer
        for d in dialplan.departments.values()
        if d.saturation is not None and d.saturation.offer in dialplan.nodes
    ]
    while stack:
        node_id = stack.pop()
        if node_id in seen:
            continue
        seen.add(node_id)
        stack.extend(t for t in dialplan.nodes[node_id].targets() if t in dialplan.nodes)
    return seen


def _automatic_loops(dialplan: Dialplan, reachable: set[str]) -> list[list[str]]:
    """Cycles made only of nodes that do not wait for the caller: the call would spin forever."""
    automatic = {
        n.id: [
            t for t in n.targets() if t in dialplan.nodes and not dialplan.nodes[t].waits_for_caller
        ]
        for n in dialplan.nodes.values()
        if n.id in reachable and not n.waits_for_caller
    }
    loops: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node_id: str, path: list[str]) -> None:
        state[node_id] = 1
        path.append(node_id)
        for target in automatic.get(node_id, ()):
            if state.get(target) == 1:
                loops.append(path[path.index(target) :])
            elif target not in state:
                visit(target, path)
        path.pop()
        state[node_id] = 2

    for node_id in sorted(automatic):
        if node_id not in state:
            visit(node_id, [])
    return loops


def _waits(dialplan: Dialplan, node_id: str) -> bool:
    return dialplan.nodes[node_id].waits_for_caller


def prompt_usage(dialplan: Dialplan) -> dict[str, dict[str, list[Node | None]]]:
    """Where each prompt can be played: language -> key -> the reachable nodes playing it
    (``None`` stands for the engine itself, which may play its own prompts anywhere).

    A language node's prompt is needed only in the languages it offers; every other prompt in
    every language of the dialplan. The one answer to "which prompts does this flow need".
    """
    usage: dict[str, dict[str, list[Node | None]]] = {
        lang: {key: [None] for key in engine_prompts(dialplan)} for lang in dialplan.languages
    }
    for node_id in sorted(reachable_nodes(dialplan)):
        node = dialplan.nodes[node_id]
        languages = (
            tuple(dict.fromkeys(node.options.values()))
            if isinstance(node, LanguageNode)
            else dialplan.languages
        )
        for key in node.prompt_keys():
            for lang in languages:
                users = usage.setdefault(lang, {}).setdefault(key, [])
                if node not in users:
                    users.append(node)
    return usage


def _prompt_issues(dialplan: Dialplan, reachable: set[str], prompts_dir: str | Path) -> list[Issue]:
    try:
        catalogue = full_catalogue(dialplan, prompts_dir)
    except (OSError, ValueError) as exc:
        return [Issue(str(prompts_dir), 0, "", f"prompt catalogue unreadable: {exc}")]
    issues = []
    for lang, keys in prompt_usage(dialplan).items():
        for key, users in keys.items():
            if key in catalogue.get(lang, {}):
                continue
            for node in users:
                issues.append(
                    Issue(
                        dialplan.source,
                        node.line if node else 0,
                        node.id if node else "",
                        f"prompt '{key}' missing in language '{lang}'",
                    )
                )
    return issues
