# cmake -DINPUT=file -DOUTPUT=header.h -DNAME=symbol -P EmbedBinary.cmake
# Writes `static const unsigned char NAME[]` holding INPUT's bytes.
file(READ "${INPUT}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x[0-9a-f][0-9a-f],){16}" "\\0\n" bytes "${bytes}")
file(WRITE "${OUTPUT}" "// Generated from ${INPUT} by EmbedBinary.cmake.\n"
  "alignas(64) static const unsigned char ${NAME}[] = {\n${bytes}\n};\n")
