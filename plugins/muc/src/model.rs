//! Roles and affiliations (XEP-0045 §5), and what each may do.

/// A long-lived relation between a user and a room, kept in the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Affiliation {
    Outcast,
    None,
    Member,
    Admin,
    Owner,
}

impl Affiliation {
    pub fn as_str(self) -> &'static str {
        match self {
            Affiliation::Outcast => "outcast",
            Affiliation::None => "none",
            Affiliation::Member => "member",
            Affiliation::Admin => "admin",
            Affiliation::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<Affiliation> {
        Some(match s {
            "outcast" => Affiliation::Outcast,
            "none" => Affiliation::None,
            "member" => Affiliation::Member,
            "admin" => Affiliation::Admin,
            "owner" => Affiliation::Owner,
            _ => return None,
        })
    }

    /// Admins and owners moderate whatever the room's settings.
    pub fn is_admin(self) -> bool {
        self >= Affiliation::Admin
    }
}

/// A relation that lasts while the user is in the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    None,
    Visitor,
    Participant,
    Moderator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::None => "none",
            Role::Visitor => "visitor",
            Role::Participant => "participant",
            Role::Moderator => "moderator",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "none" => Role::None,
            "visitor" => Role::Visitor,
            "participant" => Role::Participant,
            "moderator" => Role::Moderator,
            _ => return None,
        })
    }

    /// The role an affiliation enters a room with (XEP-0045 §5.1).
    pub fn on_entry(affiliation: Affiliation, moderated: bool) -> Role {
        match affiliation {
            Affiliation::Owner | Affiliation::Admin => Role::Moderator,
            Affiliation::Member => Role::Participant,
            Affiliation::None if moderated => Role::Visitor,
            Affiliation::None => Role::Participant,
            Affiliation::Outcast => Role::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_rank() {
        for a in [Affiliation::Outcast, Affiliation::None, Affiliation::Member, Affiliation::Admin, Affiliation::Owner]
        {
            assert_eq!(Affiliation::parse(a.as_str()), Some(a));
        }
        for r in [Role::None, Role::Visitor, Role::Participant, Role::Moderator] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert!(Affiliation::Owner > Affiliation::Admin && Affiliation::Member > Affiliation::Outcast);
        assert_eq!(Affiliation::parse("god"), None);
        assert_eq!(Role::on_entry(Affiliation::None, true), Role::Visitor);
        assert_eq!(Role::on_entry(Affiliation::Admin, false), Role::Moderator);
    }
}
