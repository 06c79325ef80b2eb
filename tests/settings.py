"""How hard the tests try: the quick run, the thorough run and what CI runs of it.

The README's ``pytest`` is the quick run (a few minutes on two cores). ``JAXMLP_THOROUGH=1 pytest``
is the thorough run (sixteen times the hypothesis examples, every parametrisation, the processes
and subprocesses, every documentation page's examples: about 35 minutes on two cores), run before
a release. CI (``.ci/run``) runs the quick run and then, thorough, the tests of :data:`CI_TIER`.
"""

import os

import pytest

THOROUGH = os.environ.get("JAXMLP_THOROUGH", "") not in ("", "0")


def examples(n: int) -> int:
    """``n`` hypothesis examples when thorough, else a sixteenth of them (at least 2)."""
    return n if THOROUGH else max(2, n // 16)


thorough_only = pytest.mark.skipif(not THOROUGH, reason="thorough run only (JAXMLP_THOROUGH=1)")


# The tests the quick run (the README's ``pytest``, under 4 minutes on two cores) leaves to the
# thorough run, each beside the quick test that keeps its area covered. tests/conftest.py skips
# them in the quick run and, in a run of the whole suite, fails if one of them no longer exists.
THOROUGH_ONLY = {
    "tests/test_kernels.py::test_the_core_with_the_kernel_equals_the_reference": "the kernel's own tests",
    "tests/test_members.py::test_every_member_is_the_fit_of_its_rows_with_its_hyperparameters[adamw]": "the other optimizers",
    "tests/test_members.py::test_float32_members_match_their_fits_within_rounding": "float64 members",
    "tests/test_members.py::test_clipping_clips_every_members_gradient_as_fit_clips": "the options table's population column (the CI tier)",
    "tests/test_members.py::test_members_stop_on_their_own_keeping_their_best_parameters": "a member stops at fit's check [1]",
    "tests/test_members.py::test_a_member_stops_at_the_check_fit_stops_at[2]": "patience 1",
    "tests/test_members.py::test_a_member_stops_at_the_check_fit_stops_at[3]": "patience 1",
    "tests/test_explainer.py::test_the_drawing_names_every_neuron_and_weight": "the seed's page",
    "tests/test_explainer.py::test_train_report_for_two_inputs_and_for_digits": "the browser's report test",
    "tests/test_explainer.py::test_trace_format_html_on_the_command_line": "the browser tests",
    "tests/test_browser.py::test_print_lays_out_every_step": "the other browser tests",
    "tests/test_browser.py::test_the_training_report_renders": "the other browser tests",
    "tests/test_fit_options.py::test_the_check_uses_the_batch_the_first_step_draws[2]": "the other batch",
    "tests/test_fit_options.py::test_sweep_checks_the_kernel_it_runs[lanes]": "the vmap layout",
    "tests/test_fit_options.py::test_sweep_refuses_a_wrong_lanes_kernel": "a wrong gradient caught in fit",
    "tests/test_fit_options.py::test_final_loss_is_the_loss_of_the_returned_parameters": "validation losses",
    "tests/test_fit_options.py::test_a_checked_run_in_chunks_is_one_program": "no recompilation in test_train",
    "tests/test_float32.py::test_float32_r_operator_close_to_autodiff": "the R-operator in float64",
    "tests/test_float32.py::test_float32_fit_backprop_and_autodiff_follow_the_same_trajectory": "test_train's",
    "tests/test_tabular_defaults.py::test_a_time_budget_cuts_the_epochs": "the recipe's run",
    "tests/test_tabular_defaults.py::test_a_regression_target_far_from_zero_is_learned_and_saved_on_its_scale": "folding the target's scale",
    "tests/test_streamed.py::test_a_stream_holds_out_the_rows_fit_holds_out": "the command line's stream validates",
    "tests/test_tabular_defaults.py::test_the_onnx_graph_imputes_clips_and_averages_as_predict_does": "test_onnx",
    "tests/test_tabular_defaults.py::test_smoothed_labels_train_with_the_handwritten_gradient": "smoothing by autodiff",
    "tests/test_tabular_defaults.py::test_an_ensemble_merges_into_one_network_of_the_members_mean[identity-mse]": "softmax",
    "tests/test_tabular_estimators.py::test_the_regressor_predicts_on_the_targets_scale_from_an_array_too": "the classifier",
    "tests/test_train_cli.py::test_train_digits_small_run_with_backprop": "the CSV runs",
    "tests/test_train_cli.py::test_sweep_xor_reports_the_success_rate": "the sweep's grid",
    "tests/test_train_cli.py::test_resume_is_bit_identical_to_an_uninterrupted_run": "test_train's resume",
    "tests/test_train_cli.py::test_sweep_members_equal_fit_runs[vmap]": "the sweep's grid",
    "tests/test_train_cli.py::test_sweep_learning_rates_are_data_not_constants[vmap]": "test_lanes",
    "tests/test_train_cli.py::test_train_xor_gets_all_four_cases_and_plots": "the CSV runs",
    "tests/test_sklearn.py::test_a_fit_keeps_its_program_in_the_persistent_compilation_cache[dir]": "the other cache test",
    "tests/test_sklearn.py::test_lbfgs_takes_scikit_learns_iterates[backprop]": "autodiff",
    "tests/test_sklearn.py::test_bridges_both_ways[relu]": "the other activations",
    "tests/test_stream_cli.py::test_data_over_the_memory_budget_stream_and_say_so": "a directory streamed",
    "tests/test_search.py::test_a_search_on_float32_data_trains_in_float32_and_gives_the_same_results": "float64 searches",
    "tests/test_parquet_source.py::test_a_resumed_run_equals_an_uninterrupted_one_bit_for_bit": "a resumed stream",
    "tests/test_streamed.py::test_a_streamed_run_equals_the_run_in_memory_bit_for_bit[7]": "[None]",
    "tests/test_trace.py::test_random_network_trace_equals_the_library_for_the_printed_weights[options3]": "options0",
    "tests/test_hvp.py::test_top_eigenvalue_against_eigvalsh[sizes0-tanh]": "the other networks",
    "tests/test_hvp.py::test_hypergradient_equals_finite_differences_of_fit[adam-mean_loss-None]": "sgd",
    "tests/test_hvp.py::test_gradcheck_second_order_cli": "the library's products",
    "tests/test_hvp.py::test_curvature_tools_jit_and_vmap": "test_api's jit and vmap",
    "tests/test_programs.py::test_a_limit_of_one_inside_a_users_jit_and_grad": "the table's limit",
    "tests/test_programs.py::test_a_smaller_limit_releases_at_once": "the table's limit",
    "tests/test_programs.py::test_a_raised_limit_keeps_every_program": "the table's limit",
    "tests/test_programs.py::test_the_limit_comes_from_the_environment": "the table's limit",
    "tests/test_programs.py::test_the_guard_counts_programs_where_there_are_no_maps": "the guard near the limit",
    "tests/test_batching.py::test_every_example_exactly_once_per_epoch[100003-4096]": "the other sizes",
    "tests/test_lanes.py::test_sweeps_callback_sees_the_population_as_fits_sees_its_state[lanes]": "vmap",
    "tests/test_lanes.py::test_a_sweep_with_a_callback_runs_equal_default_chunks": "layouts agree",
    "tests/test_api.py::test_init_is_one_compiled_program_drawing_what_op_by_op_draws[float64-tanh]": "float64-relu",
    "tests/test_api.py::test_init_is_one_compiled_program_drawing_what_op_by_op_draws[float32-relu]": "float64-relu",
    "tests/test_train.py::test_a_legacy_prng_key_is_accepted_as_it_is_by_jax_random": "typed keys",
    "tests/test_train.py::test_a_run_resumed_with_a_schedule_compiles_nothing_new[exponential]": "cosine",
    "tests/test_cli.py::test_user_errors_exit_two_with_one_line[argv1-invalid choice: 'frobnicate']": "argv0",
    "tests/test_cli.py::test_user_errors_exit_two_with_one_line[argv2-expected a positive int]": "argv0",
    "tests/test_cli.py::test_user_errors_exit_two_with_one_line[argv3-needs output_activation 'softmax']": "argv0",
    "tests/test_cli.py::test_asking_for_more_memory_than_the_machine_has_is_one_line_too": "errors inside commands",
    "tests/test_fit_options.py::test_cli_sweep_reports_its_check": "the sweep's kernel check",
    "tests/test_batching.py::test_every_example_exactly_once_per_epoch[1000-128]": "the other sizes",
    "tests/test_batching.py::test_every_example_exactly_once_per_epoch[4097-100]": "the other sizes",
    "tests/test_batching.py::test_every_example_exactly_once_per_epoch[10-4]": "the other sizes",
    "tests/test_batching.py::test_every_example_exactly_once_per_epoch[1-1]": "the other sizes",
    "tests/test_batching.py::test_an_epochs_order_shows_no_structure[400000]": "the other sizes",
    "tests/test_hvp.py::test_hypergradient_with_the_handwritten_gradient_inside": "by autodiff",
    "tests/test_fuzz.py::test_the_fuzzers_likely_shapes_reach_the_math[forward_trace]": "backprop",
    "tests/test_fuzz.py::test_the_fuzzers_likely_shapes_reach_the_math[per_example_loss]": "backprop",
    "tests/test_fuzz.py::test_the_fuzzers_likely_shapes_reach_the_math[loss_fn]": "backprop",
    "tests/test_search.py::test_a_population_over_the_budget_is_cut_into_groups": "the searches' results",
    "tests/test_modelfile.py::test_regression_model_reports_r2_and_mae": "test_scores",
    "tests/test_stream_cli.py::test_a_resumed_streamed_run_equals_an_uninterrupted_one": "test_streamed's resume",
    "tests/test_train.py::test_backprop_and_autodiff_follow_the_same_trajectory": "test_backprop's equality, fit's checked first batch",
    "tests/test_train_cli.py::test_sweep_learning_rates_are_data_not_constants[lanes]": "test_train's rates as data",
    "tests/test_batching.py::test_every_example_exactly_once_per_epoch[5-2]": "the other sizes",
    "tests/test_sklearn.py::test_the_delta_rules_check_runs_in_float32_on_float32_data": "the check covering the penalty",
    "tests/test_sklearn.py::test_precision_follows_the_data[float32]": "float64",
    "tests/test_train.py::test_named_optimizers_train[momentum]": "adam",
    "tests/test_streamed.py::test_a_diverging_stream_stops_with_the_parameters_before_the_chunk": "test_train_cli's divergence",
    "tests/test_train_cli.py::test_clip_norm_keeps_the_same_run_finite": "fit's clipping",
    "tests/test_train_cli.py::test_weight_decay_and_schedules_from_the_command_line": "the recipe's run (weight decay, cosine)",
    "tests/test_streamed.py::test_a_callback_sees_each_chunk_and_may_stop": "test_train's callback",
    "tests/test_hvp.py::test_check_hvp_catches_a_wrong_product": "test_bench's wrong product stops W9",
    "tests/test_fuzz.py::test_the_fuzzers_likely_shapes_reach_the_math[apply]": "backprop",
    "tests/test_api.py::test_frozen_biases_get_zero_gradient_in_both_paths": "the seed's frozen biases",
    "tests/test_tabular_defaults.py::test_with_no_flag_a_data_file_trains_the_recipe": "the explicit flags' run, the ensemble's merge (CI runs it)",
    "tests/test_tabular_defaults.py::test_an_ensemble_takes_momentum_with_weight_decay_and_says_when_it_diverged": "fit's own update in test_members (CI runs it)",
    "tests/test_train.py::test_a_resumed_run_trains_at_its_own_learning_rate": "the bit-identical resume",
    "tests/test_members.py::test_new_hyperparameters_never_recompile": "fit's and the sweep's",
    "tests/test_sklearn.py::test_compiled_lbfgs_reaches_scipys_minimum": "SciPy's iterates",
    "tests/test_train.py::test_divergence_is_caught_and_the_last_finite_parameters_returned": "the CLI's",
    "tests/test_train.py::test_clip_norm_bounds_each_update": "the CLI's clipped run",
    "tests/test_train.py::test_schedule_multiplier_is_optaxs_schedule": "a schedule's learning rates",
    "tests/test_fit_options.py::test_backprop_fit_reports_the_check_of_its_first_full_batch": "a wrong gradient caught",
    "tests/test_bench.py::test_gpu_benchmark_without_a_gpu_is_a_one_line_usage_error": "test_cli's one-line errors",
    "tests/test_programs.py::test_fit_trains_the_same_after_its_programs_were_released": "a released program's numbers",
    "tests/test_search.py::test_what_a_population_cannot_train_is_fitted_by_scikit_learn[another estimator]": "lbfgs",
    "tests/test_trace.py::test_markdown_is_well_formed": "the text trace",
    "tests/test_sklearn.py::test_the_stochastic_solvers_give_scikit_learns_numbers[solver=sgd-momentum=0.0-alpha=0.0]": "the other solver settings",
    "tests/test_sklearn.py::test_the_stochastic_solvers_give_scikit_learns_numbers[solver=sgd-nesterovs_momentum=False-learning_rate=invscaling]": "the other solver settings",
    "tests/test_sklearn.py::test_the_stochastic_solvers_give_scikit_learns_numbers[solver=adam-shuffle=False-alpha=0.1-activation=tanh]": "the other solver settings",
    "tests/test_sklearn.py::test_the_stochastic_solvers_give_scikit_learns_numbers[solver=sgd-activation=logistic-hidden_layer_sizes=(7, 5)-batch_size=64]": "the other solver settings",
    "tests/test_sklearn.py::test_the_stochastic_solvers_give_scikit_learns_numbers[solver=adam-beta_1=0.8-beta_2=0.99-epsilon=0.0001-learning_rate_init=0.003]": "the other solver settings",
    "tests/test_sklearn.py::test_the_stochastic_solvers_give_scikit_learns_numbers[solver=sgd-learning_rate=invscaling-power_t=0.3-momentum=0.5]": "the other solver settings",
    "tests/test_sklearn.py::test_fifty_full_batch_partial_fits_from_the_same_coefficients[0.0-0.9]": "[0.0-0.0]",
    "tests/test_sklearn.py::test_fifty_full_batch_partial_fits_from_the_same_coefficients[0.01-0.0]": "[0.0-0.0]",
    "tests/test_sklearn.py::test_fifty_full_batch_partial_fits_from_the_same_coefficients[0.01-0.9]": "[0.0-0.0]",
    "tests/test_api.py::test_init_is_one_compiled_program_drawing_what_op_by_op_draws[float32-tanh]": "float64-relu",
    "tests/test_lanes.py::test_layout_round_trip_and_shapes": "the layouts agree",
    "tests/test_hvp.py::test_check_hvp_float32_and_finite_differences": "the check catches a wrong product",
    "tests/test_members.py::test_a_member_stops_at_the_check_fit_stops_at[1]": "each member is its fit",
    "tests/test_stream_cli.py::test_a_directory_trains_streamed_and_its_model_predicts": "test_streamed",
    "tests/test_train.py::test_chunking_does_not_change_the_result": "resuming is bit-identical",
    "tests/test_train_cli.py::test_sweep_small_grid": "the sweep's learning rates as data",
    "tests/test_scores.py::test_train_and_evaluate_report_the_scores_beside_the_baseline": "the totals",
    "tests/test_hvp.py::test_hvp_equals_forward_over_reverse_the_hessian_and_is_symmetric": "the check",
    "tests/test_search.py::test_with_metadata_routing_groups_reach_the_splitter_as_in_scikit_learn": "the population reaches a pipeline's fits under metadata routing",
    "tests/test_streamed.py::test_a_stream_validates_stops_on_patience_and_is_monitored_as_in_memory": "test_parquet_source's validating stream; a stream holds out fit's rows",
    "tests/test_stream_cli.py::test_a_stream_validates_stops_on_patience_and_is_monitored": "test_parquet_source's validating stream",
    "tests/test_search.py::test_a_randomized_search_with_an_int_seed_and_several_metrics": "the population reaches a pipeline's fits under metadata routing",
    "tests/test_tabular_defaults.py::test_an_ensemble_bags_each_members_rows_on_the_command_line": "each member trains on its own bag",
    "tests/test_members.py::test_a_callback_sees_every_check_and_changes_no_number": "a callback that returns True stops every member",
    "tests/test_members.py::test_a_callback_that_returns_true_stops_every_member": "test_engine's host loop over compiled calls",
    "tests/test_train_cli.py::test_train_csv_file_options": "test_data's delimiters, BOMs and quoting; test_train_csv",
    "tests/test_train_cli.py::test_resume_refuses_another_architecture_and_a_truncated_file": "test_checkpoint's refusals",
    "tests/test_monitor.py::test_a_new_learning_rate_does_not_recompile_a_monitored_run": "test_train's runs that do not recompile",
}


# The thorough-only tests CI runs after the quick run (``JAXMLP_THOROUGH=1 pytest -m ci``), each
# for what the quick run cannot show; a module path takes all of its tests. tests/conftest.py marks
# them ``ci`` and, in a run of the whole suite, fails if one of them no longer exists.
CI_TIER = {
    "tests/test_tabular_defaults.py::test_with_no_flag_a_data_file_trains_the_recipe": "the default model",
    "tests/test_tabular_defaults.py::test_an_ensemble_takes_momentum_with_weight_decay_and_says_when_it_diverged": "an ensemble's update and divergence",
    "tests/test_readme.py::test_the_readme_examples_run": "the front door's examples",
    "tests/test_readme.py::test_the_manuals_examples_run_and_say_what_they_claim": "the manual's",
    "tests/test_sklearn.py::test_scikit_learns_own_test_file_passes": "scikit-learn's MLP tests",
    "tests/test_programs.py::test_many_distinct_fits_keep_the_process_within_bounds": "a process"
    " that compiles thousands of programs stays up",
    "tests/test_runner.py::test_a_dead_worker_fails_its_test_and_nothing_is_rerun": "the runner",
    "tests/test_checkpoint.py::test_sigkill_while_writing_leaves_the_previous_checkpoint_loadable": "atomic files under a kill",
    "tests/test_distributed.py::test_two_processes_on_loopback_train_like_one": "two hosts",
    "tests/test_stream_hosts.py::test_the_command_line_streams_over_two_processes": "two hosts'"
    " streams",
    "tests/test_search.py::test_two_processes_split_the_population_and_find_one_process_results"
    "[float32]": "two hosts' searches",
    "tests/test_search.py::test_fits_in_worker_processes_take_the_population": "n_jobs processes",
    "tests/test_search.py::test_a_grid_over_a_pipeline_gives_scikit_learns_results": "a search's"
    " results",
    "tests/test_options_by_path.py": "every option on every path",
    "tests/test_bench.py::test_bench_quick_runs_and_reports_every_workload": "the benchmark",
    "tests/test_stream_cli.py::test_a_stream_validates_stops_on_patience_and_is_monitored": "the"
    " command line's stream with validation, patience and a monitor",
    "tests/test_members.py::test_a_callback_that_returns_true_stops_every_member": "a population's"
    " callback",
}
