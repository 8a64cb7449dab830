//! Vigie's integration tests, one binary: the HTTP API contract, the allocation rules
//! through the real router and store, and the `vigie` binary as separate processes.
//!
//! Every test runs on a fresh database. The cases of `on_both_backends!` run twice, as
//! `sqlite::<case>` and `postgres::<case>` (a few run on one backend only, where the
//! behaviour is the backend's own); a PostgreSQL test with no server at
//! 127.0.0.1:5432 prints `SKIPPED (no PostgreSQL at 127.0.0.1:5432): <test>` and passes,
//! unless `VIGIE_REQUIRE_POSTGRES=1` (as `.ci/run` sets), where it fails.

mod allocation;
mod api;
mod audit;
mod bad_input;
mod call_changes;
mod compliance;
mod dashboard;
mod helpers;
mod monitoring;
mod privacy;
mod processes;
mod sim;
mod sms;
mod sms_api;
mod weekly;

/// Generates a `#[tokio::test]` per backend for each `module::case`, where the case is
/// an `async fn case(db: TestDb)`.
macro_rules! on_both_backends {
    (
        both: [$($module:ident :: $case:ident),* $(,)?],
        postgres_only: [$($pg_module:ident :: $pg_case:ident),* $(,)?],
        sqlite_only: [$($lite_module:ident :: $lite_case:ident),* $(,)?] $(,)?
    ) => {
        /// The cases on a fresh SQLite file each.
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $lite_case() {
                    crate::helpers::run(
                        crate::helpers::Backend::Sqlite,
                        concat!("sqlite::", stringify!($lite_case)),
                        crate::$lite_module::$lite_case,
                    )
                    .await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::helpers::run(
                        crate::helpers::Backend::Sqlite,
                        concat!("sqlite::", stringify!($case)),
                        crate::$module::$case,
                    )
                    .await;
                }
            )*
        }

        /// The cases on a fresh PostgreSQL database each.
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::helpers::run(
                        crate::helpers::Backend::Postgres,
                        concat!("postgres::", stringify!($case)),
                        crate::$module::$case,
                    )
                    .await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $pg_case() {
                    crate::helpers::run(
                        crate::helpers::Backend::Postgres,
                        concat!("postgres::", stringify!($pg_case)),
                        crate::$pg_module::$pg_case,
                    )
                    .await;
                }
            )*
        }
    };
}

on_both_backends! {
    both: [
        api::keys_and_roles_are_checked,
        api::bad_input_names_the_field_and_the_rule,
        api::bodies_over_the_limit_get_413,
        api::unknown_things_are_404,
        api::the_same_call_ref_gets_the_same_answer,
        api::the_patient_phone_is_shown_to_the_dialer_only,
        api::outcomes_are_recorded_and_spam_notes_count_as_reports,
        api::the_second_report_of_a_day_quarantines_and_moves_pending_calls,
        api::reports_count_on_the_paris_day,
        api::operators_change_numbers_with_a_reason,
        api::numbers_are_added_one_by_one_with_checks,
        api::pools_health_metrics_and_openapi,
        api::reports_quarantine_numbers_out_of_outbound_service_too,
        allocation::no_capacity_names_the_pool_and_when_it_returns,
        allocation::the_cap_holds_under_concurrent_requests,
        allocation::consecutive_batches_see_each_others_calls,
        allocation::the_writer_goes_on_when_its_readers_are_cut,
        allocation::rest_spans_the_autumn_dst_change,
        allocation::rest_after_the_25_hour_day,
        allocation::rest_spans_the_spring_dst_change,
        allocation::rest_after_the_23_hour_day,
        allocation::a_short_pool_gets_a_reserve_number,
        allocation::a_patients_number_is_found_by_every_writer,
        allocation::a_writer_that_was_not_the_last_to_commit_decides_again,
        allocation::the_store_refuses_a_call_for_an_unknown_facility,
        allocation::reports_under_load_move_calls_and_keep_the_counts,
        processes::numbers_import_is_all_or_nothing,
        processes::reports_import_files_every_row_or_none,
        processes::sigkill_loses_no_acknowledged_write,
        audit::the_audit_chain_detects_tampering,
        privacy::rotating_the_data_key_rewrites_every_phone_while_allocating,
        privacy::patient_refs_are_pseudonymised_and_bases_recorded,
        privacy::patients_are_exported_and_erased_by_admins_only,
        privacy::retention_purges_old_records_and_keeps_the_chain,
        compliance::solicitation_hours_and_holidays_at_the_edges,
        compliance::attempts_and_the_refusal_cooldown,
        compliance::bloctel_before_and_consent_after_the_switch,
        compliance::care_hours_per_purpose_and_facility,
        compliance::numbering_is_checked_at_import_move_and_allocation,
        compliance::identity_is_patched_and_audited,
        compliance::bloctel_import_from_the_command_line,
        compliance::erasure_keeps_what_the_calling_rules_honour,
        compliance::retention_purges_consents_and_oppositions,
        bad_input::bad_input_named_values_get_a_clear_4xx_and_change_nothing,
        bad_input::bad_input_mutated_json_bodies_get_a_clear_4xx_and_change_nothing,
        bad_input::bad_input_csv_with_injection_strings_imports_nothing,
        sms::sms_announced_calls_are_submitted_delivered_and_stopped,
        sms::sms_a_claim_without_an_answer_fails_and_is_never_sent,
        sms::sms_quiet_hours_move_the_sms_or_the_call,
        sms_api::sms_api_calls_announce_their_sms_and_show_it,
        sms_api::sms_api_optouts_stop_surveys_and_are_looked_up,
        sms_api::sms_api_receipts_are_signed_and_settle_the_sms,
        call_changes::call_changes_cancel_and_reschedule_move_the_cap_and_the_sms,
        call_changes::call_changes_stop_cancels_survey_calls_not_reminders,
        call_changes::call_changes_sms_without_a_receipt_expire,
        monitoring::monitoring_a_quarantine_opens_an_incident_that_closes_after_a_clean_check,
        monitoring::monitoring_rejected_calls_quarantine_the_number_within_five_calls,
        monitoring::monitoring_alert_only_pools_and_alert_limits,
        monitoring::monitoring_api_lists_acknowledges_and_closes,
        monitoring::monitoring_feeds_push_signed_reports,
        monitoring::monitoring_alerts_reach_a_webhook_and_a_mailbox,
        monitoring::monitoring_the_reputation_audit_checks_every_number,
        weekly::weekly_report_counts_two_weeks_writes_the_files_and_mails_them_once,
        monitoring::monitoring_an_incident_comes_with_its_cause_and_delisting_requests,
        monitoring::monitoring_external_sources_flag_numbers_and_fail_safely,
        monitoring::monitoring_scores_numbers_with_reasons_and_history,
        dashboard::dashboard_users_are_checked_and_locked_out,
        dashboard::dashboard_roles_forms_and_the_live_feed,
        dashboard::dashboard_live_feed_crosses_processes,
    ],
    postgres_only: [
        processes::two_servers_on_one_postgres_share_the_cap,
    ],
    sqlite_only: [
        allocation::sqlite_wal_starts_again_under_steady_load,
    ],
}
