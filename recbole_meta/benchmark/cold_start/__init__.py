"""Parts of the cold-start suites (``suites/cold_start*.py``) that are more than a table of runs.

* :mod:`.builtin_models` -- RecBole's built-in recommenders trained by RecBole on a cold-start split and scored
  on the meta models' tasks (``cold_start_builtins``).
* :mod:`.melu_curve` -- a MeLU run that records its learning curve and re-chooses its local update on the
  validation users (``cold_start_synthetic``).
* :mod:`.truth_init_check` -- MeLU started from the planted truth: how far its local update gets
  (``cold_start_synthetic``).
* :mod:`.onboarding` -- which items to ask a new user to rate first (``cold_start_onboarding``).
* :mod:`.maml_higher` -- MeLU's meta-step written with the ``higher`` library, the reference of
  ``cold_start_speed``.
"""
