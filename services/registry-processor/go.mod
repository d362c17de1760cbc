module tributary.dev/services/registry-processor

go 1.26

replace tributary.dev/libs => ../../libs
