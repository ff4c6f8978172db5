"""Research pods: a researcher's own code run at the site, in a sandbox, on a read-only view of the site's CDM.

The contract between the pod at the site (this package: bundle, sandbox, environment, view, dummy, runner) and
submission/output checking/the airlock (part 2):

* **Bundle** (`dari.pods.bundle`): a directory or .zip with `pod.toml` (`[pod] name, entry` with entry one of
  `main.py`, `analysis.R`, `notebook.ipynb`; `[needs] tables, packages, python`) and the code.
  `load_bundle(path) -> Bundle` validates it; `bundle_sha256(path)` is SHA-256 over the files in sorted order of
  their relative POSIX paths, each fed as `path NUL size NUL content` (a directory and a .zip of the same files
  hash alike). The hub records that hash at submission; the runner refuses a bundle whose hash differs.
* **Grant** (`dari.pods.grant`): the hub sends a `PodRequest` (job id, requester, datasets, bundle hash,
  variables, target k); the site guard (`dari.federation.guard.SiteGuard`) admits it under analysis type
  `RESEARCH_POD = "research_pod"`; `PodGrant.from_request(admission, request)` is what the runner takes.
* **Run**: `dari.pods.runner.run_bundle(site_folder, bundle, *, grant: PodGrant | None, limits: PodLimits | None
  = None, local: bool = False) -> PodRun` runs the bundle and **holds** its outputs at
  `SITE/pods/runs/<run_id>/outputs/` (never released by the runner). `SITE/pods/runs/<run_id>/run.json` is the
  `dari.pods.models.PodRun` record (run id, bundle SHA-256, job and grant id, started/ended, status, exit code,
  stop reason `wall_time`/`cpu`/`memory`/`processes`/`file_size`/`output_size`, limits, environment hash, the
  view's tables, columns, rows and k, the outputs with their sizes and SHA-256, stdout/stderr tail paths under
  `logs/`). The run folder appears whole or not at all (built beside it, then renamed): a run that failed to
  start leaves no run folder and no run.json. `local=True` runs on a `dari pod dummy` folder with no grant.
* Every site run is recorded in the site's audit log (`pod.run.start`, `pod.run.ok` / `.stopped` / `.failed`).
"""
