"""The PySide6 + pyqtgraph view of a review: the only package that imports Qt.

Nothing is imported here, so ``import bhb_viewer.gui.app`` (argument parsing) stays free of Qt;
the window is :class:`bhb_viewer.gui.main_window.MainWindow`, the entry point ``bhb_viewer.gui.app.main``.
"""

__all__ = ["app", "dialogs", "export_dialog", "filter_bar", "main_window", "menus", "start_page", "status_bar",
           "widgets", "workers"]
