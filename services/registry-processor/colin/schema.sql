-- The subset of the BC Registries COLIN schema the registry-processor
-- reads (a PostgreSQL copy, schema bc_registries), with the columns it
-- uses. The processor only reads it (SOURCE_DB); tests and
-- `registry-processor testdata generate` create it with this file.
-- Timestamps are naive Pacific local time, as COLIN stores them.

CREATE SCHEMA IF NOT EXISTS bc_registries;

CREATE TABLE IF NOT EXISTS bc_registries.event_type (
    event_typ_cd  VARCHAR(10) PRIMARY KEY,
    event_class   VARCHAR(10),
    short_desc    VARCHAR(75),
    full_desc     VARCHAR(125)
);

CREATE TABLE IF NOT EXISTS bc_registries.event (
    event_id       INTEGER PRIMARY KEY,
    corp_num       VARCHAR(10) NOT NULL,
    event_typ_cd   VARCHAR(10) NOT NULL,
    event_timestmp TIMESTAMP NOT NULL,
    trigger_dts    TIMESTAMP
);
CREATE INDEX IF NOT EXISTS event_corp_num ON bc_registries.event (corp_num);
CREATE INDEX IF NOT EXISTS event_timestmp ON bc_registries.event (event_timestmp, event_id);

CREATE TABLE IF NOT EXISTS bc_registries.filing_type (
    filing_typ_cd    VARCHAR(10) PRIMARY KEY,
    filing_typ_class VARCHAR(10),
    short_desc       VARCHAR(50),
    full_desc        VARCHAR(125)
);

CREATE TABLE IF NOT EXISTS bc_registries.filing (
    event_id      INTEGER PRIMARY KEY,
    filing_typ_cd VARCHAR(10) NOT NULL,
    effective_dt  TIMESTAMP,
    change_dt     TIMESTAMP,
    registration_dt TIMESTAMP,
    period_end_dt TIMESTAMP,
    withdrawn_event_id INTEGER,
    nr_num        VARCHAR(10),
    new_corp_num  VARCHAR(10)
);

CREATE TABLE IF NOT EXISTS bc_registries.conv_event (
    event_id     INTEGER PRIMARY KEY,
    effective_dt TIMESTAMP,
    report_corp_ind VARCHAR(1),
    prev_bc_ind  VARCHAR(1),
    activity_user_id VARCHAR(32),
    activity_dt  TIMESTAMP,
    activity_tm  VARCHAR(10),
    annual_file_dt TIMESTAMP,
    accession_num VARCHAR(10),
    remarks      VARCHAR(200)
);

CREATE TABLE IF NOT EXISTS bc_registries.corp_type (
    corp_typ_cd VARCHAR(3) PRIMARY KEY,
    colin_ind   VARCHAR(1) NOT NULL,
    corp_class  VARCHAR(10) NOT NULL,
    short_desc  VARCHAR(25) NOT NULL,
    full_desc   VARCHAR(50) NOT NULL
);

CREATE TABLE IF NOT EXISTS bc_registries.corporation (
    corp_num        VARCHAR(10) PRIMARY KEY,
    corp_typ_cd     VARCHAR(3) NOT NULL,
    recognition_dts TIMESTAMP,
    last_ar_filed_dt TIMESTAMP,
    bn_9            VARCHAR(9),
    bn_15           VARCHAR(15),
    admin_email     VARCHAR(254),
    last_ledger_dt  TIMESTAMP
);

CREATE TABLE IF NOT EXISTS bc_registries.corp_name_type (
    corp_name_typ_cd VARCHAR(2) PRIMARY KEY,
    short_desc       VARCHAR(75),
    full_desc        VARCHAR(125)
);

CREATE TABLE IF NOT EXISTS bc_registries.corp_name (
    corp_num          VARCHAR(10) NOT NULL,
    corp_name_typ_cd  VARCHAR(2) NOT NULL,
    start_event_id    INTEGER NOT NULL,
    end_event_id      INTEGER,
    corp_name_seq_num INTEGER NOT NULL,
    srch_nme          VARCHAR(35),
    corp_nme          VARCHAR(150),
    dd_corp_num       VARCHAR(10),
    PRIMARY KEY (corp_num, corp_name_seq_num)
);

CREATE TABLE IF NOT EXISTS bc_registries.corp_op_state (
    state_typ_cd    VARCHAR(3) PRIMARY KEY,
    op_state_typ_cd VARCHAR(3) NOT NULL,
    short_desc      VARCHAR(75),
    full_desc       VARCHAR(125)
);

CREATE TABLE IF NOT EXISTS bc_registries.corp_state (
    corp_num       VARCHAR(10) NOT NULL,
    start_event_id INTEGER NOT NULL,
    end_event_id   INTEGER,
    state_typ_cd   VARCHAR(3) NOT NULL,
    dd_corp_num    VARCHAR(10),
    PRIMARY KEY (corp_num, start_event_id)
);
CREATE INDEX IF NOT EXISTS corp_state_start ON bc_registries.corp_state (start_event_id);
CREATE INDEX IF NOT EXISTS corp_state_end ON bc_registries.corp_state (end_event_id);

CREATE TABLE IF NOT EXISTS bc_registries.jurisdiction_type (
    can_jur_typ_cd VARCHAR(2) PRIMARY KEY,
    short_desc     VARCHAR(15),
    full_desc      VARCHAR(40)
);

CREATE TABLE IF NOT EXISTS bc_registries.jurisdiction (
    corp_num         VARCHAR(10) NOT NULL,
    start_event_id   INTEGER NOT NULL,
    end_event_id     INTEGER,
    can_jur_typ_cd   VARCHAR(2) NOT NULL,
    xpro_typ_cd      VARCHAR(3),
    home_recogn_dt   TIMESTAMP,
    othr_juris_desc  VARCHAR(40),
    home_juris_num   VARCHAR(40),
    bc_xpro_num      VARCHAR(10),
    home_company_nme VARCHAR(150),
    PRIMARY KEY (corp_num, start_event_id)
);

CREATE TABLE IF NOT EXISTS bc_registries.office_type (
    office_typ_cd VARCHAR(2) PRIMARY KEY,
    short_desc    VARCHAR(75),
    full_desc     VARCHAR(125)
);

CREATE TABLE IF NOT EXISTS bc_registries.address (
    addr_id             INTEGER PRIMARY KEY,
    province            VARCHAR(2),
    country_typ_cd      VARCHAR(2),
    postal_cd           VARCHAR(15),
    addr_line_1         VARCHAR(50),
    addr_line_2         VARCHAR(50),
    addr_line_3         VARCHAR(50),
    city                VARCHAR(40),
    address_format_type VARCHAR(10),
    address_desc        VARCHAR(300),
    address_desc_short  VARCHAR(300),
    delivery_instructions VARCHAR(80),
    unit_no             VARCHAR(6),
    unit_type           VARCHAR(10),
    civic_no            VARCHAR(6),
    civic_no_suffix     VARCHAR(10),
    street_name         VARCHAR(30),
    street_type         VARCHAR(10),
    street_direction    VARCHAR(10),
    lock_box_no         VARCHAR(5),
    installation_type   VARCHAR(10),
    installation_name   VARCHAR(30),
    installation_qualifier VARCHAR(30),
    route_service_type  VARCHAR(10),
    route_service_no    VARCHAR(4),
    province_state_name VARCHAR(30)
);

CREATE TABLE IF NOT EXISTS bc_registries.office (
    corp_num         VARCHAR(10) NOT NULL,
    office_typ_cd    VARCHAR(2) NOT NULL,
    start_event_id   INTEGER NOT NULL,
    end_event_id     INTEGER,
    mailing_addr_id  INTEGER,
    delivery_addr_id INTEGER,
    dd_corp_num      VARCHAR(10),
    email_address    VARCHAR(75),
    PRIMARY KEY (corp_num, office_typ_cd, start_event_id)
);

CREATE TABLE IF NOT EXISTS bc_registries.party_type (
    party_typ_cd VARCHAR(3) PRIMARY KEY,
    short_desc   VARCHAR(75),
    full_desc    VARCHAR(125)
);

CREATE TABLE IF NOT EXISTS bc_registries.corp_party (
    corp_party_id         INTEGER PRIMARY KEY,
    mailing_addr_id       INTEGER,
    delivery_addr_id      INTEGER,
    corp_num              VARCHAR(10) NOT NULL,
    party_typ_cd          VARCHAR(3) NOT NULL,
    start_event_id        INTEGER NOT NULL,
    end_event_id          INTEGER,
    prev_party_id         INTEGER,
    corr_typ_cd           VARCHAR(1),
    last_report_dt        TIMESTAMP,
    appointment_dt        TIMESTAMP,
    cessation_dt          TIMESTAMP,
    last_nme              VARCHAR(30),
    middle_nme            VARCHAR(30),
    first_nme             VARCHAR(30),
    business_nme          VARCHAR(150),
    bus_company_num       VARCHAR(15),
    email_address         VARCHAR(254),
    corp_party_seq_num    INTEGER,
    office_notification_dt TIMESTAMP,
    phone                 VARCHAR(30),
    reason_typ_cd         VARCHAR(3)
);
CREATE INDEX IF NOT EXISTS corp_party_corp ON bc_registries.corp_party (corp_num);
CREATE INDEX IF NOT EXISTS corp_party_bus ON bc_registries.corp_party (bus_company_num);
