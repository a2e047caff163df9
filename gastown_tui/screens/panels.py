"""The main screen's panels with the cockpit's keys: the widgets (:mod:`widgets`) render the town and
know nothing of the cockpit's actions; each panel here adds the bindings the key table gives its
scope (:func:`gastown_tui.screens.keys.bindings`), re-binding main-screen actions as
``screen.<action>`` so the footer shows them where they apply."""

from __future__ import annotations

from gastown_tui.screens.keys import bindings
from widgets.agents import AgentsTree
from widgets.beads import ReadyBeads
from widgets.convoys import ConvoyList
from widgets.refinery import RefineryQueue


class AgentsPanel(AgentsTree):
    """The agents tree with attach, nudge, nuke and the polecat detail."""

    BINDINGS = bindings("agents")


class ReadyPanel(ReadyBeads):
    """The ready beads with sling, new bead, new convoy, post and open (marking is the table's own key)."""

    BINDINGS = bindings(
        "ready", order=("sling", "new_convoy", "new_bead", "board_post", "bead_detail")
    )  # the footer's order


class ConvoysPanel(ConvoyList):
    """The convoys with enter: open the convoy under the cursor."""

    BINDINGS = bindings("convoys")


class RefineryPanel(RefineryQueue):
    """The refinery queue with retry and the merge request detail (enter)."""

    BINDINGS = bindings("refinery")
