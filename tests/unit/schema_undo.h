/* Schema steps undone in SQL, for the tests that migrate an older database forward. */
#ifndef SCEP_TEST_SCHEMA_UNDO_H
#define SCEP_TEST_SCHEMA_UNDO_H

/* SQL that takes a SQLite database at schema version 8 back to 7. */
#define SCHEMA_8_UNDONE "DROP INDEX certificates_by_username; DROP INDEX certificates_by_subject;"

/* SQL that takes a database at schema version 7 back to 6, for the migration tests. */
#define SCHEMA_7_UNDONE                                                                            \
    "DROP TRIGGER cas_insert_revision; DROP TRIGGER cas_update_revision;"                          \
    "DROP TRIGGER cas_delete_revision; DROP TRIGGER aliases_insert_revision;"                      \
    "DROP TRIGGER aliases_delete_revision; DROP TRIGGER alias_settings_insert_revision;"           \
    "DROP TRIGGER alias_settings_update_revision; DROP TRIGGER alias_settings_delete_revision;"    \
    "DROP TABLE config_revision;"

#endif
