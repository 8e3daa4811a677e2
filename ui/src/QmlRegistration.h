// Registers the bridge's enums with QML (import Nibble.Bridge): EngineController.ModelState and
// ErrorKinds. Called once by main.cpp and by tests before loading QML.
#pragma once

void registerNibbleQmlTypes();
