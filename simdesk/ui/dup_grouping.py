"""How the duplicates page gets its groups: the scan as a job, then a regroup of its pairs at the slider's
threshold on the read worker (no new comparison), with the decisions stored for the groups applied."""

from __future__ import annotations

from simdesk.ui.controller import describe_error
from simdesk.ui.dup_jobs import DuplicateScanJob, ScanOutcome
from simdesk.ui.dup_list import PAGE_GROUPS
from simdesk.ui.status import scan_progress


class DuplicateGroupingMixin:
    """The scan and the regroups (a mixin of ``DuplicatesPage``: it works on the page's state)."""

    # -- scanning ------------------------------------------------------------------------------------

    def open(self) -> None:
        """Show the page; the first time (or after a failed or cancelled scan), scan."""
        if self.scan is None and not self.scanning:
            self.start_scan()

    def start_scan(self) -> None:
        if self.scanning:
            return
        self.error = None
        job = DuplicateScanJob(self.library, workers=self.controller.index_workers, parent=self)
        job.progress.connect(lambda item: self.status_widget.show_progress(*scan_progress(item)))
        job.succeeded.connect(self._scanned)
        job.failed.connect(self._scan_failed)
        job.ended.connect(self._scan_ended)
        self.job = job
        self.rescan_button.setEnabled(False)
        self.status_widget.started("Looking for duplicates…")
        self.controller.start_job(job)  # the controller stops it when the app closes
        self._render()

    def cancel_scan(self) -> None:
        if self.scanning:
            self.job.cancel()

    def _scanned(self, outcome: ScanOutcome) -> None:
        if outcome.cancelled:
            if self.scan is None:
                self.error = "The scan was cancelled. Scan Again resumes where it stopped."
            self._status_message("Duplicate scan cancelled.")
            return
        self.scan = outcome.scan
        self.gone.clear()
        for path, why in outcome.not_described[:5]:
            self.controller.notice.emit(f"Not compared for near-duplicates: {path}: {why}")
        self.regroup()

    def _scan_failed(self, exc: BaseException) -> None:
        self.error = f"Cannot look for duplicates: {describe_error(exc)}"

    def _scan_ended(self) -> None:
        self.job = None  # the controller deletes it
        self.status_widget.ended()
        self.rescan_button.setEnabled(True)
        if self.scan is None:
            self._render()
        self.scan_finished.emit()

    # -- regrouping ----------------------------------------------------------------------------------

    def _slider_moved(self, value: int, regroup: bool = True) -> None:
        self.slider_value.setText(f"{value / 100:.2f}")
        if regroup:
            self.controller.settings.setValue("duplicates/min_similarity", value / 100)
            if self.scan is not None:
                self._regroup_timer.start()

    def _keep_rule_changed(self, _index: int) -> None:
        rule = self.keep_rule
        self.controller.writes.run(self.library.set_duplicate_keep_rule, list(rule),
                                   on_error=self.controller._report_error)
        if self.scan is not None:
            self.regroup()

    def regroup(self, refresh: bool = False) -> None:
        """Group the scan's pairs again at the slider's threshold, on a worker (no new comparison),
        with the decisions stored for the groups. ``refresh``: after a change of the user's (a
        dismissal, a reference folder): the groups keep their order and the view its place."""
        if self.scan is None:
            return
        self._regroup_timer.stop()
        self._generation += 1
        generation, scan, threshold, rule = self._generation, self.scan, self.threshold, self.keep_rule
        library = self.library

        def work():
            groups = library.duplicate_groups(scan, threshold, rule)
            return groups, library.duplicate_decisions(groups)

        self.controller.reads.run(
            work, on_result=lambda result: self._grouped(generation, *result, refresh=refresh),
            on_error=lambda exc: self._regroup_failed(generation, exc))

    def _grouped(self, generation: int, groups: list, decisions: dict, refresh: bool = False) -> None:
        if generation != self._generation:
            return  # the slider moved on meanwhile
        for decision in decisions.values():  # stored choices; this session's own come first
            for path, on in decision.ticks.items():
                self.ticks.setdefault(path, on)
            if decision.keep and decision.keep not in self.chosen_keep:
                self.chosen_keep[decision.keep] = decision.keep_at
        result = []
        for group in groups:
            chosen = [m.path for m in group.members if m.path in self.chosen_keep]
            if chosen:
                path = max(chosen, key=self.chosen_keep.__getitem__)
                if path != group.keep:
                    group = group.with_keep(path)
            result.append(group)
        self.groups = result
        self._resort(keep_order=refresh)
        self._fill_folder_combo()
        if not refresh:
            self.shown = PAGE_GROUPS
        self._render(preserve_view=refresh)
        self._measure_shots()
        self.groups_shown.emit()

    def _regroup_failed(self, generation: int, exc: BaseException) -> None:
        if generation == self._generation:
            self.error = f"Cannot group the copies: {describe_error(exc)}"
            self._render()
            self.groups_shown.emit()
