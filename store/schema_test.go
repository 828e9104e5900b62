package store_test

import (
	"sync"
	"testing"

	"gorm.io/gorm/schema"

	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/models"
)

// TestModelsMatchMigrations: every column a GORM model reads or writes exists
// in the schema the migrations build, on both databases; the models are not
// AutoMigrated, so nothing else would notice a drift before production.
func TestModelsMatchMigrations(t *testing.T) {
	all := []any{
		&models.User{}, &models.Role{}, &models.RolePermission{}, &models.UserRole{}, &models.UserResource{},
		&models.Session{}, &models.RefreshToken{}, &models.Revocation{}, &models.SigningKey{},
		&models.PasswordResetToken{}, &models.AuditEvent{}, &models.OutboxMail{}, &models.LoginLockout{},
		&models.Client{}, &models.ClientSecret{}, &models.PersonalToken{}, &models.EmailCode{}, &models.EmailToken{},
	}
	testdb.EachDialect(t, func(t *testing.T, d string) {
		st := testdb.Open(t, d)
		db := st.GORM()
		for _, m := range all {
			s, err := schema.Parse(m, &sync.Map{}, db.NamingStrategy)
			testdb.Must(t, err)
			if !db.Migrator().HasTable(s.Table) {
				t.Errorf("%s: no table %s", s.Name, s.Table)
				continue
			}
			for _, f := range s.Fields {
				if f.DBName != "" && !db.Migrator().HasColumn(m, f.DBName) {
					t.Errorf("%s.%s: no column %s.%s", s.Name, f.Name, s.Table, f.DBName)
				}
			}
		}
	})
}
