module tributary.dev/services/record-parser

go 1.26

require tributary.dev/libs v0.0.0

replace tributary.dev/libs => ../../libs
