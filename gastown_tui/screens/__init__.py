"""The cockpit's screens: main, grid of previews, problems, mail, help, and the modals."""
