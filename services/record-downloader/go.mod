module tributary.dev/services/record-downloader

go 1.26

replace tributary.dev/libs => ../../libs
