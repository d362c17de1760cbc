module tributary.dev/deploy/devstack

go 1.26

require tributary.dev/libs v0.0.0

replace tributary.dev/libs => ../../libs
