#!/usr/bin/env python3
"""The layout's two rules (docs/architecture.md, "Layout"), checked on the sources as they are:

1. No cycle between files: a file and its header count as one unit (x.hpp + x.cpp), so two
   .cpp files that include each other's headers are a cycle even when no header includes itself.
2. Folders depend downwards only: a file in server/<folder>/ (or admin/) may include a header owned
   by its own folder or by a folder below it in LAYERS. server/runtime/app.cpp, the composition
   root, is the one file allowed to include other folders' private headers; it still may not
   include anything owned by a folder above runtime.

A header in include/cloudmeta/ is owned by the folder that implements it (OWNERS); one in a folder
is owned by that folder and is private to it: another folder including it breaks rule 2 too.
Prints every violation and exits 1 if there is any. Usage: check_layering.py SOURCE_DIR
"""
import os
import re
import sys

# Top to bottom. A folder may use the ones after it.
LAYERS = [
    "main", "cli", "hypervisor", "runtime", "http", "admin", "metrics", "identity", "imds",
    "snapshot", "store", "metadata", "records", "credentials", "config", "log", "address", "base",
]

# include/cloudmeta/<header> -> the folder whose contract it is.
OWNERS = {
    "admin_api.hpp": "admin", "admin_http.hpp": "admin", "api_tokens.hpp": "credentials", "app.hpp": "runtime",
    "asio.hpp": "base", "posted_wait.hpp": "base", "caller_binding.hpp": "identity", "caller_identity.hpp": "identity",
    "identity_signing.hpp": "identity", "change_feed.hpp": "store",
    "cli.hpp": "cli", "config.hpp": "config", "libvirt_hook_config.hpp": "config",
    "admin_client.hpp": "http", "libvirt_hook.hpp": "hypervisor", "fleet.hpp": "snapshot", "imds.hpp": "imds", "imds_error_pages.hpp": "imds",
    "instance_record.hpp": "records", "ip_key.hpp": "address",
    "json_depth.hpp": "records", "json_input.hpp": "records", "last_seen.hpp": "snapshot",
    "instance_listing.hpp": "store", "log.hpp": "log", "metadata_tree.hpp": "metadata", "metrics.hpp": "metrics",
    "node_arena.hpp": "snapshot", "packed_row.hpp": "snapshot", "passwords.hpp": "credentials",
    "record_json.hpp": "records", "schema.hpp": "store", "snapshot.hpp": "snapshot",
    "sharded_map.hpp": "snapshot",
    "snapshot_cache.hpp": "snapshot",
    "store.hpp": "store", "token_authority.hpp": "imds", "validation_error.hpp": "records",
}

COMPOSITION_ROOT = "server/runtime/app.cpp"
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def folder_of(path):
    parts = path.split("/")
    if parts[0] == "admin":
        return "admin"
    if parts[0] == "include":
        return OWNERS.get(parts[-1])
    if parts[0] == "server":
        return "main" if len(parts) == 2 else parts[1]
    return None


def resolve(root, including, name):
    """The file an #include "name" in `including` finds, with the build's search order."""
    for base in (os.path.dirname(including), "include", "server", "admin"):
        candidate = os.path.normpath(os.path.join(base, name))
        if os.path.isfile(os.path.join(root, candidate)):
            return candidate
    return None


def sources(root):
    for top in ("server", "admin", "include"):
        for dirpath, _, names in os.walk(os.path.join(root, top)):
            for name in names:
                if name.endswith((".cpp", ".hpp")):
                    yield os.path.relpath(os.path.join(dirpath, name), root)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    rank = {name: i for i, name in enumerate(LAYERS)}
    graph = {}
    problems = []
    for path in sorted(sources(root)):
        with open(os.path.join(root, path), encoding="utf-8") as f:
            text = f.read()
        graph[path] = []
        mine = folder_of(path)
        if mine is None:
            problems.append(f"{path}: no layer (add it to OWNERS or LAYERS)")
            continue
        if mine not in rank:
            problems.append(f"{path}: folder '{mine}' is not in LAYERS")
            continue
        for name in INCLUDE.findall(text):
            target = resolve(root, path, name)
            if target is None:
                continue  # generated or a third-party header
            graph[path].append(target)
            theirs = folder_of(target)
            if theirs is None or theirs == mine:
                continue
            if theirs not in rank:
                problems.append(f"{path}: includes {target}, whose folder is not in LAYERS")
            elif rank[theirs] < rank[mine]:
                problems.append(f"{path} ({mine}) includes {target} ({theirs}): an upward dependency")
            elif not target.startswith("include/") and path != COMPOSITION_ROOT:
                problems.append(f"{path} ({mine}) includes {target}, private to {theirs}")

    # Rule 1: depth-first search for a back edge between units (x.hpp and x.cpp of one folder;
    # include/cloudmeta/x.hpp belongs with the x.cpp of its owner).
    def unit(path):
        stem = os.path.splitext(os.path.basename(path))[0]
        return f"{folder_of(path)}/{stem}"
    units = {}
    for path, targets in graph.items():
        units.setdefault(unit(path), set()).update(unit(t) for t in targets if unit(t) != unit(path))
    graph = {u: sorted(t) for u, t in units.items()}
    state = {}
    def visit(node, trail):
        state[node] = "open"
        for nxt in graph.get(node, ()):
            if state.get(nxt) == "open":
                cycle = trail[trail.index(nxt):] + [nxt]
                problems.append("include cycle: " + " -> ".join(cycle))
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"
    for node in sorted(graph):
        if node not in state:
            visit(node, [node])

    for p in problems:
        print(p)
    print(f"{len(graph)} units checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
