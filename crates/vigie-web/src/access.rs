//! Who may see and do what on the dashboard: one table of roles and permissions, and
//! the facility scope for calls. Pure; every handler asks here and answers 403 when
//! refused.
//!
//! Medical confidentiality decides the table: a patient's phone is shown to agents
//! only (they place the calls), and only for the calls of their facilities; operations
//! managers run numbers and pools and never see a call; auditors read the audit trail
//! and the figures, never a call.

use vigie_core::FacilityId;
use vigie_store::{User, UserRole};

/// Something a page shows or an action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// The pool cards, open alerts and incidents, the week's key figures.
    ViewOverview,
    /// The numbers list and a number's page (no patient data on either).
    ViewNumbers,
    /// Quarantine, release, retire or move a number.
    ChangeNumbers,
    /// The alerts and incidents, with their playbooks.
    ViewAlerts,
    /// Acknowledge an alert, do a playbook step, close an incident.
    ActOnAlerts,
    /// A call's page, within the user's facilities.
    ViewCalls,
    /// A patient's phone on a call's page.
    SeePatientPhone,
    /// The capacity planner.
    PlanCapacity,
    /// The weekly reports.
    ViewReports,
    /// The audit trail.
    ViewAudit,
    /// Users and API keys.
    ManageUsers,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Permission; 11] = [
        Permission::ViewOverview,
        Permission::ViewNumbers,
        Permission::ChangeNumbers,
        Permission::ViewAlerts,
        Permission::ActOnAlerts,
        Permission::ViewCalls,
        Permission::SeePatientPhone,
        Permission::PlanCapacity,
        Permission::ViewReports,
        Permission::ViewAudit,
        Permission::ManageUsers,
    ];
}

/// The table: whether `role` has `permission`.
pub fn allows(role: UserRole, permission: Permission) -> bool {
    use Permission::*;
    use UserRole::*;
    match permission {
        ViewOverview => true,
        ViewNumbers | ViewAlerts | ViewReports => matches!(role, Admin | OpsManager | Supervisor | Auditor),
        ChangeNumbers | PlanCapacity => matches!(role, Admin | OpsManager),
        ActOnAlerts => matches!(role, Admin | OpsManager | Supervisor),
        ViewCalls => matches!(role, Admin | Supervisor | Agent),
        SeePatientPhone => role == Agent,
        ViewAudit => matches!(role, Admin | Auditor),
        ManageUsers => role == Admin,
    }
}

/// Whether `user` may see a call made for `facility`: the role sees calls, and the
/// facility is in the user's scope.
pub fn may_see_call(user: &User, facility: &FacilityId) -> bool {
    allows(user.role, Permission::ViewCalls) && user.covers(facility)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole table, row by row: a change to a rule shows here.
    #[test]
    fn every_role_has_exactly_its_permissions() {
        use Permission::*;
        let expected: [(UserRole, &[Permission]); 5] = [
            (
                UserRole::Admin,
                &[
                    ViewOverview,
                    ViewNumbers,
                    ChangeNumbers,
                    ViewAlerts,
                    ActOnAlerts,
                    ViewCalls,
                    PlanCapacity,
                    ViewReports,
                    ViewAudit,
                    ManageUsers,
                ],
            ),
            (
                UserRole::OpsManager,
                &[ViewOverview, ViewNumbers, ChangeNumbers, ViewAlerts, ActOnAlerts, PlanCapacity, ViewReports],
            ),
            (UserRole::Supervisor, &[ViewOverview, ViewNumbers, ViewAlerts, ActOnAlerts, ViewCalls, ViewReports]),
            (UserRole::Agent, &[ViewOverview, ViewCalls, SeePatientPhone]),
            (UserRole::Auditor, &[ViewOverview, ViewNumbers, ViewAlerts, ViewReports, ViewAudit]),
        ];
        for (role, granted) in expected {
            for p in Permission::ALL {
                assert_eq!(allows(role, p), granted.contains(&p), "{} / {p:?}", role.as_str());
            }
        }
    }

    #[test]
    fn only_agents_see_patient_phones_and_ops_managers_see_no_call() {
        for role in UserRole::ALL {
            assert_eq!(allows(role, Permission::SeePatientPhone), role == UserRole::Agent, "{}", role.as_str());
        }
        assert!(!allows(UserRole::OpsManager, Permission::ViewCalls));
        assert!(!allows(UserRole::Auditor, Permission::ViewCalls));
    }

    fn user(role: UserRole, facilities: &[&str]) -> User {
        User {
            id: 1,
            name: "u".into(),
            role,
            facilities: facilities.iter().map(|f| FacilityId::parse(f).expect("facility")).collect(),
            failed_sign_ins: 0,
            locked_until: None,
            created_at: jiff::Timestamp::UNIX_EPOCH,
            disabled_at: None,
        }
    }

    #[test]
    fn calls_are_seen_within_the_facility_scope_only() {
        let lyon = FacilityId::parse("clinique-saint-jean").expect("facility");
        let nantes = FacilityId::parse("chu-nantes").expect("facility");
        let agent = user(UserRole::Agent, &["clinique-saint-jean"]);
        assert!(may_see_call(&agent, &lyon));
        assert!(!may_see_call(&agent, &nantes));
        let supervisor = user(UserRole::Supervisor, &["chu-nantes"]);
        assert!(may_see_call(&supervisor, &nantes));
        assert!(!may_see_call(&supervisor, &lyon));
        assert!(may_see_call(&user(UserRole::Admin, &[]), &nantes));
        assert!(!may_see_call(&user(UserRole::OpsManager, &[]), &nantes));
        assert!(!may_see_call(&user(UserRole::Auditor, &[]), &lyon));
    }
}
