module tributary.dev/services/record-parser

go 1.26

replace tributary.dev/libs => ../../libs
