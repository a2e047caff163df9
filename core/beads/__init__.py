"""The beads ledger: the town's git-backed issue graph (DESIGN sections 1, 3, 4; issue 3).

``BeadStore`` (store.py) holds the beads in the town database; ``model`` the record and its JSON
shapes; ``ids`` beads' hash ids; ``ready`` the blocked/ready rules; ``jsonl`` the classic
``issues.jsonl`` export/import; ``sync`` the debounced export + commit to the town repository.
"""

from core.beads.model import Comment, Dependency, Issue
from core.beads.store import Blocked, BeadStore, default_prefix

__all__ = ["BeadStore", "Blocked", "Comment", "Dependency", "Issue", "default_prefix"]
