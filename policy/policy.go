// Package policy decides who may do what: every permission and visibility
// question of authsvc, for the principal asking. The accounts service asks it
// before each operation; routes only require a signed-in caller, and handlers
// render what they are given. Answers depend on the principal's current
// roles (read per request, not from the token), so a role change takes effect
// at once.
package policy

import (
	"errors"
	"slices"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
)

// ErrForbidden: the principal lacks the permission an operation needs.
// ErrAdminsOnly: the operation is reserved to the admin role.
// ErrSessionRequired: the operation needs a user's own session, and the
// principal is a personal access token or a service client.
var (
	ErrForbidden       = errors.New("policy: the permission this needs is not held")
	ErrAdminsOnly      = errors.New("policy: only administrators may do this")
	ErrSessionRequired = errors.New("policy: this needs a user's session, not a personal access token or a service token")
)

// Principal is who asks: a signed-in account; a service client acting as
// itself (Client); or the operator at the command line and at start-up
// (neither), who may do anything.
type Principal struct {
	Account *store.Account
	Client  *store.ServiceClient
	// Scoped: the principal acts with the permissions in Scope only, and holds
	// no role: a personal access token (Scope is then the intersection of its
	// permissions and its user's) or a service client.
	Scoped bool
	Scope  []string
}

// Operator is the principal of the command line.
func Operator() Principal { return Principal{} }

// operator: the command line, not a request.
func (p Principal) operator() bool { return p.Account == nil && p.Client == nil && !p.Scoped }

// ID is the principal's user id (a service client's id), uuid.Nil for the operator.
func (p Principal) ID() uuid.UUID {
	switch {
	case p.Account != nil:
		return p.Account.ID
	case p.Client != nil:
		return p.Client.ID
	}
	return uuid.Nil
}

// IsAdmin reports whether the principal holds the admin role (the operator
// does; a scoped principal holds no role).
func (p Principal) IsAdmin() bool {
	if p.Scoped || p.Account == nil {
		return p.operator()
	}
	return p.Account.HasRole(models.RoleAdmin)
}

// Can reports whether the principal holds the permission.
func (p Principal) Can(permission string) bool {
	switch {
	case p.Scoped:
		return slices.Contains(p.Scope, permission)
	case p.Account == nil:
		return p.operator()
	}
	return p.Account.Can(permission)
}

// Permissions are the permissions the principal acts with.
func (p Principal) Permissions() []string {
	switch {
	case p.Scoped:
		return p.Scope
	case p.Account != nil:
		return p.Account.Permissions
	}
	return models.Permissions
}

// RequireSession refuses what only a user's own session may do (manage its
// tokens, sessions, password, email, factors, identities, or delete the
// account) to personal access tokens and service clients.
func RequireSession(p Principal) error {
	if p.Scoped || p.Account == nil {
		return ErrSessionRequired
	}
	return nil
}

// HoldsAll reports whether the principal holds every one of the permissions.
func (p Principal) HoldsAll(permissions []string) bool {
	for _, perm := range permissions {
		if !p.Can(perm) {
			return false
		}
	}
	return true
}

// Operation is something a principal asks to do to users, roles, sessions or
// the audit trail. Self-service (/v1/me) needs no permission and is not here.
type Operation string

const (
	ListUsers          Operation = "list users"
	CountUsers         Operation = "count users"
	ReadUser           Operation = "read a user"
	CreateUser         Operation = "create a user"
	UpdateUser         Operation = "update a user"
	DeleteUser         Operation = "delete a user"
	DeleteAllUsers     Operation = "delete every user"
	ImportUsers        Operation = "import users"
	ResetUserFactors   Operation = "reset a user's second factors"
	ListUserSessions   Operation = "list a user's sessions"
	RevokeUserSessions Operation = "revoke a user's sessions"
	ListRoles          Operation = "list roles"
	CreateRole         Operation = "create a role"
	UpdateRole         Operation = "update a role"
	DeleteRole         Operation = "delete a role"
	ReadAudit          Operation = "read the audit trail"
	ListClients        Operation = "list service clients"
	ReadClient         Operation = "read a service client"
	CreateClient       Operation = "create a service client"
	UpdateClient       Operation = "update a service client"
	RotateClientSecret Operation = "rotate a service client's secret"
	DeleteClient       Operation = "delete a service client"
	ListUserTokens     Operation = "list a user's personal access tokens"
	RevokeUserToken    Operation = "revoke a user's personal access token"
	InviteUser         Operation = "invite a user"
	ListWebhooks       Operation = "list webhooks"
	ReadWebhook        Operation = "read a webhook"
	CreateWebhook      Operation = "create a webhook"
	UpdateWebhook      Operation = "update a webhook"
	DeleteWebhook      Operation = "delete a webhook"
	TestWebhook        Operation = "send a webhook a test event"
)

// Operations lists every operation, for tests that must cover them all.
func Operations() []Operation {
	return []Operation{ListUsers, CountUsers, ReadUser, CreateUser, UpdateUser, DeleteUser, DeleteAllUsers,
		ResetUserFactors, ListUserSessions, RevokeUserSessions, ListRoles, CreateRole, UpdateRole, DeleteRole, ReadAudit,
		ListClients, ReadClient, CreateClient, UpdateClient, RotateClientSecret, DeleteClient, ListUserTokens, RevokeUserToken, InviteUser,
		ListWebhooks, ReadWebhook, CreateWebhook, UpdateWebhook, DeleteWebhook, TestWebhook, ImportUsers}
}

// required is the permission each operation needs ("" when being signed in is enough).
func required(op Operation) string {
	switch op {
	case ListUsers, ReadUser, CountUsers: // for the first two, View says how much is seen
		return ""
	case CreateUser, UpdateUser, DeleteUser, DeleteAllUsers, ResetUserFactors, RevokeUserToken, InviteUser, ImportUsers:
		return models.PermUsersWrite
	case ListUserTokens:
		return models.PermUsersRead
	case ListClients, ReadClient:
		return models.PermClientsRead
	case CreateClient, UpdateClient, RotateClientSecret, DeleteClient:
		return models.PermClientsWrite
	case ListWebhooks, ReadWebhook:
		return models.PermWebhooksRead
	case CreateWebhook, UpdateWebhook, DeleteWebhook, TestWebhook:
		return models.PermWebhooksWrite
	case ListUserSessions:
		return models.PermSessionsRead
	case RevokeUserSessions:
		return models.PermSessionsWrite
	case ListRoles:
		return models.PermRolesRead
	case CreateRole, UpdateRole, DeleteRole:
		return models.PermRolesWrite
	case ReadAudit:
		return models.PermAuditRead
	}
	return "unknown operation" // a permission nobody holds: unknown is refused
}

// Rules are the settings that change the answers.
type Rules struct {
	// DirectoryPublic (USER_DIRECTORY_PUBLIC) lets any signed-in user list
	// users, seeing public fields only.
	DirectoryPublic bool
}

// Allow decides whether the principal may perform op: nil, ErrForbidden or
// ErrAdminsOnly. For ListUsers and ReadUser it decides only whether the
// principal may ask at all; View says what it then sees.
func (r Rules) Allow(p Principal, op Operation) error {
	if p.operator() {
		return nil
	}
	if op == ListUsers && !p.Can(models.PermUsersRead) && !r.DirectoryPublic {
		return ErrForbidden
	}
	if op == DeleteAllUsers && !p.IsAdmin() {
		return ErrAdminsOnly
	}
	if perm := required(op); perm != "" && !p.Can(perm) {
		return ErrForbidden
	}
	return nil
}

// View is how much of a user a principal sees.
type View int

const (
	// Public: id, username and names; of the directory, active accounts only.
	Public View = iota
	// Full: the whole record, roles, status and factors included.
	Full
)

// View is what the principal sees of the user target (uuid.Nil: of the users
// it lists): the full record of itself or with users:read, else the public fields.
func (r Rules) View(p Principal, target uuid.UUID) View {
	if p.Can(models.PermUsersRead) || (target != uuid.Nil && target == p.ID()) {
		return Full
	}
	return Public
}

// MayManage is the rule for acting on another account (changing it, its
// password, status or roles, deleting it, seeing or ending its sessions): the
// principal holds every permission the target holds, and only an
// administrator acts on an administrator. Without the second half a role
// holding all permissions could set an admin's password, log in as them and
// grant itself admin.
func MayManage(p Principal, target *store.Account) bool {
	if p.Account != nil && p.Account.ID == target.ID && !p.Scoped {
		return true
	}
	if target.HasRole(models.RoleAdmin) && !p.IsAdmin() {
		return false
	}
	return p.HoldsAll(target.Permissions)
}

// MayGrant is the rule for handing out roles (to a user) or permissions (to a
// role): admin only by an administrator, and no permission the principal
// lacks itself. permissions are those the roles carry.
func MayGrant(p Principal, roles, permissions []string) bool {
	for _, r := range roles {
		if r == models.RoleAdmin && !p.IsAdmin() {
			return false
		}
	}
	return p.HoldsAll(permissions)
}
